"""Which beat activation suits the music heard: the spectral flux or the learned one.

The flux finds attacks; on legato material -- bowed strings, choir, organ, a quartet -- it is
a noisy floor with few clear peaks, and the learned activation (which has learned what else
marks a beat: a change of pitch) does better there, while on percussive material (drums,
piano, plucked strings) the flux does better on the development set. How peaked the flux is
tells the two apart: the ratio of its 95th percentile to its median over ``frames`` frames
(10 s) is below ~5.5 for every legato clip and above ~8 for every other one, in the
development set and in the learned model's held-out training clips alike; the thresholds sit
in that gap (below ``LEGATO`` -> learned, above ``PERCUSSIVE`` -> the flux's side, between: no
change).
A band with a drum kit can be as unpeaked as a string quartet (distorted guitars, bass and
drums at once: the recorded rock songs of ``bench/beats_songs.py``); its cymbals and hi-hats
give it away: the share of the flux above 5 kHz (``OnsetDetector.high_out``) is below 0.02 in
every legato clip of the development set and 11 of the 13 held-out legato training clips
(0.043 and 0.053 in the other two) and 0.03-0.16 in the unpeaked rock excerpts, so a window
with ``CYMBALS`` or more of its flux up there is not legato but a band -- if the network hears
a beat in it (95th percentile above ``HEARS``; 0.2-0.6 in those rock excerpts), since steady
white noise has as much flux up there (0.03) and the network hears nothing in it (0.01). A
band's beats come from the joint tracker, on both activations at once (``joint``: on such
windows of held-out clips it did better than the flux alone; bench/BEATS.md).
Peaked windows are not all alike either: the peakiest are hits out of near-silence (all but
one recorded loop are above 40; so are some plucked and struck pieces), while from 8 to 30 are
attacks out of their own sustain (many keyboard and ensemble pieces, the denser band excerpts,
produced songs). Those, where the network hears a beat, take the joint tracker too
(``DRUM_LOOP``); above it the flux stays alone. Chosen on clips no shipped choice saw (the
tracker modules' and the held-out training clips, at three input levels:
``bench/beats_decoders.py``, bench/BEATS.md "Both activations for peaked music").
Where the learned activation runs, how sure it is counts too: if its 95th percentile over the
window is above ``SURE`` (it fires near 1 on the beats: produced songs, some drum loops), it is
chosen whatever the flux looks like (the threshold read off a per-clip table of the four beat
sets, bench/BEATS.md: development +0.007, LMMS songs +0.13, recorded loops +0.045), and stays chosen
while the percentile stays above ``SURE - SURE_BAND``.

The first window after the first sound decides. Until then both activations run, and the
beats that count are those of the one the window so far leans to (looked at every
``LEAN_EVERY`` frames from ``LEAN_AFTER`` on; the flux's before that; after the first leaning,
a change needs two looks in a row that ask for it: a window near a threshold would otherwise
flip the beats between two trackers and back within a second), while the learned
activation hears something too: it was trained to answer steady noise with nothing, where the
flux finds stray "onsets". The music can change
in a set (a pad, then the drums come in), so every window after that is measured too: when
one asks for the other activation, that one is
started afresh and warms up for a window beside the current one (``trial``); if the window
after asks the same, it takes over (``switched``), otherwise it is dropped. Digital silence
between hits counts (it is what percussive input looks like).

``add(strength, beat_probability, high)`` once per frame (the flux, the learned activation's
beat output or None where it did not run, and the flux above 5 kHz); ``run_flux`` /
``run_learned`` (the network) / ``run_learned_tracker`` / ``run_joint`` say what must run now and
``source`` whose beats count ("flux", "learned" or "joint").
Engine thread; the buffers are made once (the percentiles are numpy's: once a second in the
first window, once a window after).
"""

from __future__ import annotations

import numpy as np

LEGATO = 6.0  # p95 / median of the flux below this: legato -> the learned activation
CYMBALS = 0.03  # ... unless this share of the flux or more is above 5 kHz: drums -> the flux
HEARS = 0.1  # (if the network's 95th percentile is above this: steady noise stays below 0.02)
PERCUSSIVE = 8.0  # above this: percussive -> the flux
DRUM_LOOP = 30.0  # ... but below this (where the network hears a beat): both activations
FRAMES = 500  # 10 s at 50 frames/s
SURE = 0.7  # the learned activation's 95th percentile above this: the network is sure
SURE_BAND = 0.1  # ... and stays sure, window after window, while above SURE - SURE_BAND
LEAN_AFTER = 150  # before the first decision: lean to one from 3 s of sound on,
LEAN_EVERY = 50  # looking again every second


class SourceGate:
    def __init__(self, frames: int = FRAMES, legato: float = LEGATO,
                 percussive: float = PERCUSSIVE, sure: float = SURE,
                 lean_after: int = LEAN_AFTER, cymbals: float = CYMBALS,
                 drum_loop: float = DRUM_LOOP) -> None:
        self.legato, self.percussive, self.sure = legato, percussive, sure
        self.cymbals, self.drum_loop = cymbals, drum_loop
        self.lean_after = lean_after
        self.pinned = ""  # a source held from the start (pin), or "" for the gate's choice
        self._values = np.zeros(frames)
        self._probs = np.zeros(frames)
        self.reset()

    def pin(self, source: str) -> None:
        """Hold the choice at ``source`` ("flux", "learned" or "joint") from the start: no
        window decides anything (``--audio-tracker band`` pins "joint")."""
        self.pinned = source
        self.reset()

    def reset(self) -> None:
        self._n = 0
        self._n_probs = 0
        self._sum, self._sum_high = 0.0, 0.0  # the window's flux, all and above 5 kHz
        self._heard = False
        self.decided = False
        self.learned = False  # whose beats count (before the decision: the leaning)
        # ... and on the flux's side, whether its beats come from the joint tracker, on both
        # activations (a band: unpeaked with cymbals; or peaked, but not like a drum loop)
        self.joint = False
        self._band = False  # (what the last look at a window found)
        self.trial = False  # the other activation warms up beside the current one
        self._leaned = False  # whether the leaning has changed since the start
        self._asked = None  # (what the last look asked: (learned, band), or None)
        self.switches = 0
        self.peakiness = 0.0
        self.sureness = 0.0  # the learned activation's 95th percentile (last full window)
        self._was_sure = False  # (the last full window's verdict: a Schmitt trigger)
        self.high_share = 0.0  # the share of the flux above 5 kHz (idem)
        # which rule the last look went by: "sure", "percussive" (peaked like a drum loop, or
        # the network hears nothing), "peaked" (-> joint), "between", "legato", "band" or
        # "hiss" (unpeaked with cymbals: by whether the network hears a beat); "" before any
        self.reason = ""
        if self.pinned:
            self.decided = True
            self.learned = self.pinned == "learned"
            self.joint = self.pinned == "joint"

    @property
    def run_flux(self) -> bool:
        """Whether the flux tracker must run."""
        return not self.decided or self.trial or not (self.learned or self.joint)

    @property
    def run_learned(self) -> bool:
        """Whether the network must run (for the learned tracker or the joint one)."""
        return not self.decided or self.trial or self.learned or self.joint

    @property
    def run_learned_tracker(self) -> bool:
        """Whether the learned tracker must run (for the joint one the network runs alone)."""
        return not self.decided or self.trial or self.learned

    @property
    def run_joint(self) -> bool:
        """Whether the joint tracker must run."""
        return not self.decided or self.trial or self.joint

    @property
    def source(self) -> str:
        """Whose beats count: "learned", "joint" or "flux"."""
        return "learned" if self.learned else ("joint" if self.joint else "flux")

    def _choose(self, wants: bool) -> None:
        self.learned = wants
        self.joint = not wants and self._band

    def add(self, strength: float, beat_probability: float | None = None,
            high: float = 0.0) -> str:
        """One frame's flux (``high``: its part above 5 kHz) and, where the network ran, its
        beat probability. Returns "" or what this frame's window ended with: "decided",
        "trial" (start the other activation afresh), "switched" or "kept"; before the first
        decision, "leaned" when the leaning changes. Pinned: always ""."""
        if self.pinned:
            return ""
        if not self._heard:
            if not strength > 1e-6:
                return ""  # silence before the first sound
            self._heard = True
        n = self._n
        self._values[n] = strength
        if strength > 0.0:  # (False for NaN)
            self._sum += strength
            if high > 0.0:
                self._sum_high += min(high, strength)
        if beat_probability is not None:
            self._probs[n] = beat_probability
            self._n_probs += 1
        self._n = n = n + 1
        if n < len(self._values):
            if self.decided or n < self.lean_after or n % LEAN_EVERY:
                return ""
            wants = self._wants(n, self._n_probs == n)
            asked = None if wants is None else (wants, self._band)
            previous, self._asked = self._asked, asked
            if asked is None or asked == (self.learned, self.joint):
                return ""
            if self._leaned and asked != previous:
                return ""  # a change of leaning is asked at two looks in a row (no flapping)
            self._leaned = True
            self._choose(wants)
            return "leaned"
        wants = self._wants(n, self._n_probs == n)
        self._n = self._n_probs = 0
        self._sum = self._sum_high = 0.0
        if not self.decided:
            self.decided = True
            if wants is not None:  # (None: the leaning)
                self._choose(wants)
            return "decided"
        if self.trial:
            self.trial = False
            if wants is not None and wants != self.learned:
                self._choose(wants)
                self.switches += 1
                return "switched"
            return "kept"
        if wants is not None and wants != self.learned:
            self.trial = True
            return "trial"
        return ""

    def _wants(self, n: int, with_probs: bool) -> bool | None:
        """Which activation the first ``n`` frames of the window ask for: True (learned),
        False (flux) or None (no change)."""
        self._band = False
        values = self._values[:n]
        median = float(np.median(values))
        self.peakiness = float(np.percentile(values, 95)) / median if median > 1e-12 else float(
            "inf")
        self.high_share = self._sum_high / self._sum if self._sum > 0.0 else 0.0
        full = n == len(self._values)
        if with_probs:
            self.sureness = float(np.percentile(self._probs[:n], 95))
            # sure once above SURE, then until below SURE - SURE_BAND: a network near the
            # threshold (a breakbeat at 0.67-0.74) does not start a trial every other window
            sure = self.sureness > self.sure - (SURE_BAND if self._was_sure else 0.0)
            if full:
                self._was_sure = sure
            if sure:
                self.reason = "sure"
                return True
        elif full:
            self._was_sure = False
        if self.peakiness > self.percussive:
            # peaked, but not like a drum loop's hits out of silence: the joint tracker
            self._band = (with_probs and self.peakiness < self.drum_loop
                          and self.sureness >= HEARS)
            self.reason = "peaked" if self._band else "percussive"
            return False
        if self.peakiness >= self.legato:
            self.reason = "between"
            return None
        if self.high_share < self.cymbals:
            self.reason = "legato"
            return True
        # unpeaked with cymbals: a band if the network hears a beat; steady noise (hiss) has
        # flux up there too, and the network hears nothing in it
        if not with_probs:
            self.reason = "between"
            return None  # (the flux runs alone: cannot tell)
        self._band = self.sureness >= HEARS
        self.reason = "band" if self._band else "hiss"
        return not self._band
