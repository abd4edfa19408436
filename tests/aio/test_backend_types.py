"""
The values the backend hands out: roomkit's classes when roomkit imports,
the package's own (L{roomkit_sip._aio.types}) otherwise, with the same
fields, defaults and checks.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json

from twisted.trial.unittest import SynchronousTestCase

import roomkit_sip.asyncio as rk
from roomkit_sip._aio import types as own
from tests.aio._roomkit import require_roomkit

NAMES = ("VoiceSession", "AudioFrame", "AudioChunk", "DTMFEvent", "ProtocolTrace")


def _roomkit_classes() -> dict[str, type]:
    from roomkit.models.trace import ProtocolTrace
    from roomkit.voice.audio_frame import AudioFrame
    from roomkit.voice.base import AudioChunk, VoiceSession
    from roomkit.voice.pipeline.dtmf.base import DTMFEvent

    return {
        "VoiceSession": VoiceSession,
        "AudioFrame": AudioFrame,
        "AudioChunk": AudioChunk,
        "DTMFEvent": DTMFEvent,
        "ProtocolTrace": ProtocolTrace,
    }


class SelectionTests(SynchronousTestCase):
    """
    Which classes the backend uses.
    """

    def test_follows_roomkit(self) -> None:
        """
        C{HAVE_ROOMKIT} is whether roomkit can be imported, and the exported
        classes are roomkit's exactly when it is.
        """
        self.assertEqual(rk.HAVE_ROOMKIT, importlib.util.find_spec("roomkit") is not None)
        if rk.HAVE_ROOMKIT:
            for name, cls in _roomkit_classes().items():
                self.assertIs(getattr(rk, name), cls, name)
        else:
            for name in NAMES:
                self.assertIs(getattr(rk, name), getattr(own, name), name)

    def test_same_fields_as_roomkit(self) -> None:
        """
        The package's classes have roomkit's public fields and defaults, so
        code written against either works with both.
        """
        require_roomkit(self)
        for name, theirs in _roomkit_classes().items():
            mine = {f.name: f.default for f in dataclasses.fields(getattr(own, name))}
            public = {
                f.name: f.default for f in dataclasses.fields(theirs) if not f.name.startswith("_")
            }
            self.assertEqual(mine, public, name)
        from roomkit.voice.base import VoiceCapability, VoiceSessionState

        self.assertEqual([m.name for m in own.VoiceCapability], [m.name for m in VoiceCapability])
        self.assertEqual(
            [(m.name, m.value) for m in own.VoiceSessionState],
            [(m.name, m.value) for m in VoiceSessionState],
        )


class OwnTypesTests(SynchronousTestCase):
    """
    The package's own classes behave like roomkit's where it matters.
    """

    def test_session_end_is_final(self) -> None:
        """
        A session leaves C{ENDED} for nothing; other moves are allowed.
        """
        session = own.VoiceSession(id="s", room_id="r", participant_id="p", channel_id="voice")
        self.assertIs(session.state, own.VoiceSessionState.CONNECTING)
        session.state = own.VoiceSessionState.ACTIVE
        session.state = own.VoiceSessionState.ENDED
        session.state = own.VoiceSessionState.ENDED
        with self.assertRaises(own.VoiceSessionEndedError):
            session.state = own.VoiceSessionState.ACTIVE
        self.assertEqual(json.loads(json.dumps(session.metadata)), {})

    def test_audio_frame_checks(self) -> None:
        """
        Frames hold bytes of whole samples at a sane rate.
        """
        frame = own.AudioFrame(b"\x00\x01" * 160, sample_rate=8000)
        self.assertEqual((frame.channels, frame.sample_width, frame.metadata), (1, 2, {}))
        for bad in (
            {"data": bytearray(4)},
            {"data": b"\x00" * 3},
            {"data": b"", "sample_rate": 0},
            {"data": b"", "channels": 3},
            {"data": b"", "sample_width": 3},
        ):
            with self.assertRaises(ValueError, msg=repr(bad)):
                own.AudioFrame(**bad)

    def test_defaults(self) -> None:
        """
        roomkit's defaults: 16 kHz mono PCM chunks, DTMF at full confidence,
        traces stamped with the time.
        """
        chunk = own.AudioChunk(b"")
        self.assertEqual(
            (chunk.sample_rate, chunk.channels, chunk.format, chunk.is_final),
            (16000, 1, "pcm_s16le", False),
        )
        self.assertEqual(own.DTMFEvent("5", 100.0).confidence, 1.0)
        trace = own.ProtocolTrace("voice", "inbound", "sip", "INVITE")
        self.assertIsNotNone(trace.timestamp.tzinfo)
        self.assertRaises(dataclasses.FrozenInstanceError, setattr, trace, "summary", "x")

    def test_local_base_defaults(self) -> None:
        """
        The stand-in base class gives the members roomkit's base gives the
        SIP backend: no auto-connect, no AEC reference, no-op input gates.
        """
        backend = own.LocalVoiceBackend()
        session = own.VoiceSession(id="s", room_id="r", participant_id="p", channel_id="voice")
        self.assertFalse(backend.auto_connect)
        self.assertFalse(backend.feeds_aec_reference)
        self.assertIsNone(backend.audio_received_callback)
        self.assertIsNone(backend.interrupt(session))
        self.assertIsNone(backend.set_input_muted(session, True))
        self.assertIsNone(backend.set_input_gated(session, True))
        self.assertIsNone(backend.on_speaker_change(print))
        self.assertIsNone(backend.on_aec_tap(print))
