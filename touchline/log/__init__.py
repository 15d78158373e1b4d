"""The log port and its engines (embedded SQLite, Kafka)."""

from touchline.log.port import (
    Log,
    LogError,
    OffsetOutOfRange,
    Position,
    Record,
    StoredRecord,
    TopicPartition,
    UnknownTopicError,
)
from touchline.log.registry import LOG_ENGINES, open_log
from touchline.log.sqlite import SqliteLog

__all__ = [
    "LOG_ENGINES",
    "Log",
    "LogError",
    "OffsetOutOfRange",
    "Position",
    "Record",
    "SqliteLog",
    "StoredRecord",
    "TopicPartition",
    "UnknownTopicError",
    "open_log",
]
