"""Ended players are dropped on the polling thread only, once nothing else refers to them."""

from __future__ import annotations

import threading
import weakref

from engine.worker.media import EndedPlayers


class Player:
    """Stands in for a pjsua2 player: what matters is who drops the last reference."""


def hold_until_released(
    handed_over: list[Player], holding: threading.Event, release: threading.Event
) -> None:
    """A callback on another thread: holds the player until told to return."""
    held = handed_over.pop()
    holding.set()
    release.wait(5)
    del held


def test_a_player_only_the_list_refers_to_is_dropped() -> None:
    ended: EndedPlayers[Player] = EndedPlayers()
    player = Player()
    alive = weakref.ref(player)
    ended.add(player)
    del player

    ended.release_unreferenced()

    assert alive() is None
    assert len(ended) == 0


def test_a_player_still_referred_to_elsewhere_is_kept_until_that_reference_goes() -> None:
    ended: EndedPlayers[Player] = EndedPlayers()
    in_callback = Player()  # as PJSIP's event thread holds it while onEof2 runs
    alive = weakref.ref(in_callback)
    ended.add(in_callback)

    ended.release_unreferenced()
    assert len(ended) == 1

    del in_callback
    ended.release_unreferenced()
    assert alive() is None


def test_the_callback_thread_never_drops_the_last_reference() -> None:
    """A thread that finishes with a player after the polling thread has ended it leaves the
    player to the polling thread, however the two interleave."""
    ended: EndedPlayers[Player] = EndedPlayers()
    dropped_on: list[str] = []
    for _ in range(200):
        player = Player()
        weakref.finalize(player, lambda: dropped_on.append(threading.current_thread().name))
        handed_over = [player]
        holding = threading.Event()
        release = threading.Event()

        thread = threading.Thread(
            target=hold_until_released, args=(handed_over, holding, release), name="pjsip-event"
        )
        thread.start()
        assert holding.wait(5)
        ended.add(player)
        del player
        ended.release_unreferenced()  # the callback still holds it: kept
        release.set()
        thread.join(5)
        ended.release_unreferenced()

    assert dropped_on == [threading.current_thread().name] * 200
    assert len(ended) == 0
