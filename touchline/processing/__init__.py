"""Running processors: the port they implement, the runner that drives one
over its topic, and the two runtimes (embedded and Kafka) that host runners."""
