"""A process forked while another thread loads phone metadata does not hang.

The stages fork from the supervising process. phonenumbers loads a region's
metadata on first use under one class-wide lock; a child forked while another
thread held it used to wait on it for ever at its first new region.
"""

from __future__ import annotations

import importlib
import multiprocessing
import sys
import threading

from phonenumbers import PhoneMetadata

from touchline.events import identifiers

_HANG = 60.0
"""Seconds after which the child counts as hung: a hang detector, not a timing bound."""


def _load_region(region: str) -> None:
    importlib.import_module(f"phonenumbers.data.region_{region}")


def _check_in_child() -> None:
    # However much of the metadata this process had loaded (other tests load
    # many regions), France's next lookup loads it again, under the lock.
    PhoneMetadata.register_region_loader("FR", _load_region)
    assert identifiers.is_canonical_e164("+33142685300")


def _blocked_in_fork_handler(thread: threading.Thread) -> bool:
    frame = sys._current_frames().get(thread.ident or -1)
    return frame is not None and frame.f_code.co_name == "_hold_metadata_for_fork"


def test_a_fork_while_another_thread_holds_the_metadata_lock_gives_a_working_child() -> None:
    held, release = threading.Event(), threading.Event()

    def hold() -> None:  # another thread, in the middle of loading a region
        with PhoneMetadata._metadata_lock:
            held.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    child = multiprocessing.get_context("fork").Process(target=_check_in_child)
    forker = threading.Thread(target=child.start)
    forker.start()
    try:
        # The fork waits for the load to finish; without the handler it is
        # over at once, with the lock copied held.
        while forker.is_alive() and not _blocked_in_fork_handler(forker):
            forker.join(0.001)
    finally:
        release.set()
        holder.join()
        forker.join()
    child.join(_HANG)
    if child.exitcode is None:
        child.kill()
        child.join()
    assert child.exitcode == 0
