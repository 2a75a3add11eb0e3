"""The ``improv`` command: devices, run, render, demo, protocol."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from . import __version__, protocol
from .config import ConfigError, load

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
EXAMPLE = "ode_to_joy.mid"


class CliError(Exception):
    """A start-up problem reported as one line and exit status 2."""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE.toml", help="load settings from a TOML file")
    p.add_argument("--tempo", type=float, metavar="BPM", help="tempo in beats per minute")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    g = p.add_argument_group("the improviser (each also an OSC control and a TOML key)")
    g.add_argument("--temperature", type=float, metavar="T", help="sampling temperature 0..2")
    g.add_argument("--density", type=float, metavar="D", help="0 sustains .. 1 re-strikes")
    g.add_argument("--mode", choices=["accompany", "answer", "both"], help="what it plays")
    g.add_argument("--key", metavar="KEY", help="key lock: auto, C, F#, Am, Ebm ...")
    g.add_argument("--commit", type=float, metavar="BEATS",
                   help="commit this far ahead (0 = react to each note, the default)")
    g.add_argument("--no-follow", action="store_true", help="keep the set tempo")
    g.add_argument("--no-bass", action="store_true", help="bass role off")
    g.add_argument("--no-chords", action="store_true", help="chords role off")
    g.add_argument("--no-answer", action="store_true", help="answer role off")
    g.add_argument("--baseline", action="store_true",
                   help="the rule-based accompanist instead of the model")
    g.add_argument("--audio-tracker", choices=["auto", "flux", "learned", "band"],
                   help="audio beats from the spectral flux, the learned activation, or both "
                        "at once (band: a band with drums), or (auto, the default) whichever "
                        "suits the music heard")


def _overrides(args: argparse.Namespace) -> dict:
    flag_to_key = {
        "tempo": "tempo.bpm", "midi_in": "midi.input", "midi_out": "midi.output",
        "midi_api": "midi.api", "audio_in": "audio.input", "osc_port": "osc.port",
        "osc_host": "osc.host", "samplerate": "audio.samplerate", "blocksize": "audio.blocksize",
        "osc_allow": "osc.allow",
        "temperature": "improviser.temperature", "density": "improviser.density",
        "mode": "improviser.mode", "key": "improviser.key", "commit": "improviser.commit_beats",
        "audio_tracker": "tempo.audio_tracker",
    }
    out = {key: getattr(args, flag) for flag, key in flag_to_key.items()
           if getattr(args, flag, None) is not None}
    if getattr(args, "midi_clock_out", False):
        out["midi.clock_out"] = True
    if getattr(args, "thru", False):
        out["midi.thru"] = True
    for flag, key in (("no_follow", "tempo.follow"), ("no_bass", "improviser.bass"),
                      ("no_chords", "improviser.chords"), ("no_answer", "improviser.answer"),
                      ("baseline", "improviser.enabled")):
        if getattr(args, flag, False):
            out[key] = False
    osc_out = getattr(args, "osc_out", None)
    if osc_out is not None:
        out["osc.out"] = None if osc_out.lower() == "none" else osc_out
    return out


def cmd_devices(args: argparse.Namespace) -> int:
    from .io import audio, midi

    print("Audio (sounddevice / PortAudio):")
    try:
        apis = audio.host_apis()
        devices = audio.list_devices()
        if not devices:
            print("  no audio devices (no sound card; start JACK, e.g. jackd -d dummy)")
        for i, d in enumerate(devices):
            print(f"  [{i}] {d['name']} ({apis[d['hostapi']]}, "
                  f"{d['max_input_channels']} in, {d['max_output_channels']} out, "
                  f"{d['default_samplerate']:g} Hz)")
    except audio.AudioDeviceError as exc:
        print(f"  cannot list audio devices: {exc}")
    print("Audio (JACK, --audio-in jack or jack:PORT; survives a JACK restart):")
    from .io.jackclient import JackUnavailable, close_quietly, open_client

    try:
        probe = open_client("improv-probe")
    except JackUnavailable as exc:
        print(f"  {exc}")
    else:
        try:
            ports = probe.get_ports(is_audio=True, is_output=True)
            print(f"  server at {probe.samplerate} Hz, period {probe.blocksize} frames; "
                  "sources: " + (", ".join(p.name for p in ports) or "none"))
        finally:
            close_quietly(probe)
    for api in ("alsa", "jack"):
        print(f"MIDI via {api}:")
        try:
            ins, outs = midi.list_ports(api)
        except midi.MidiPortError as exc:
            print(f"  cannot open: {exc}")
            continue
        print("  inputs:  " + (", ".join(ins) or "none"))
        print("  outputs: " + (", ".join(outs) or "none"))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .live import EXIT_INTERNAL_ERROR, LiveSession

    cfg = load(args.config, _overrides(args))
    session = LiveSession(cfg, thru=cfg.midi.thru)
    session.install_signal_handlers()
    print(session.describe(), flush=True)
    view = None
    if not args.quiet:
        from .display import StatusDisplay

        view = StatusDisplay(session.engine, sys.stdout).start()
    try:
        session.run(duration_sec=args.duration)
    finally:
        if view is not None:
            view.stop()
        session.close()
    status = session.engine.status()
    print("improv: stopped; " + ", ".join(f"{k}={v}" for k, v in status.items() if v), flush=True)
    if session.fatal is not None:
        print(f"improv: stopped by an internal error: {session.fatal}. Every held note was "
              "released. This is a bug in improv; the traceback is above.", file=sys.stderr,
              flush=True)
        return EXIT_INTERNAL_ERROR
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from .io.files import read_midi, save_midi
    from .offline import note_pairs, render

    overrides = _overrides(args)
    path = Path(args.input)
    if "tempo.bpm" not in overrides and path.suffix.lower() in (".mid", ".midi"):
        _, file_bpm = read_midi(path)
        if file_bpm is not None:
            overrides["tempo.bpm"] = round(file_bpm, 3)
    cfg = load(args.config, overrides)
    result = render(path, cfg, thru=cfg.midi.thru)
    out = save_midi(result.sent, args.output)
    notes = note_pairs(result.sent)
    print(f"wrote {out}: {len(notes)} notes over {result.duration_sec:.1f} s")
    return 0


def find_example() -> Path:
    env = os.environ.get("IMPROV_EXAMPLE")
    path = Path(env) if env else Path(__file__).resolve().parent.parent / "examples" / EXAMPLE
    if not path.exists():
        raise CliError(f"bundled example not found at {path} (set IMPROV_EXAMPLE=FILE.mid)")
    return path


def render_wav(midi_path: Path, wav_path: Path) -> bool:
    """Render with FluidSynth when it and the GM soundfont are installed."""
    if shutil.which("fluidsynth") is None or not SOUNDFONT.exists():
        return False
    subprocess.run(
        ["fluidsynth", "-ni", "-q", "-F", str(wav_path), "-r", "44100", str(SOUNDFONT),
         str(midi_path)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return True


def cmd_demo(args: argparse.Namespace) -> int:
    from .io.files import read_midi, save_midi
    from .offline import note_pairs, render

    example = find_example()
    overrides = _overrides(args)
    _, file_bpm = read_midi(example)
    if "tempo.bpm" not in overrides and file_bpm:
        overrides["tempo.bpm"] = round(file_bpm, 3)
    cfg = load(args.config, overrides)
    result = render(example, cfg, thru=True)
    out_dir = Path(args.out)
    mid = save_midi(result.sent, out_dir / "demo.mid")
    notes = note_pairs(result.sent)
    by_role = {ch: sum(1 for n in notes if n[2] == ch) for ch in sorted({n[2] for n in notes})}
    names = {c: r for r, c in protocol.ROLE_CHANNELS.items()}
    names[protocol.PLAYER_CHANNEL] = "player"
    summary = ", ".join(f"{names.get(c, c)} (ch {c + 1}): {n}" for c, n in by_role.items())
    print(f"example: {example}")
    print(f"wrote {mid}: {summary}")
    wav = out_dir / "demo.wav"
    if render_wav(mid, wav):
        print(f"wrote {wav} (FluidSynth, FluidR3 GM)")
    else:
        print("no demo.wav: FluidSynth or the GM soundfont is not installed "
              "(make system-deps installs them)")
    return 0


HARMONY_CHANNELS = {"S": 0, "B": 1, "T": 2, "A": 3}  # melody on 1, bass on 2 (as live)
HARMONY_PROGRAMS = {"S": 0, "B": 32, "T": 52, "A": 52}


def cmd_harmonize(args: argparse.Namespace) -> int:
    from .events import SentMidi
    from .io.files import save_midi
    from .play.harmonize import VOICES, HarmonizeSettings, harmonize
    from .play.melody import read_melody
    from .play.runtime import DEFAULT_MODEL, ModelRuntime

    melody = read_melody(args.melody)
    model = args.model or (DEFAULT_MODEL if not args.anticipate else
                           DEFAULT_MODEL.with_name("improv_anticipate_int8.onnx"))
    rt = ModelRuntime(model)
    settings = HarmonizeSettings(temperature=args.temperature, top_p=args.top_p,
                                 seed=args.seed, no_crossing=not args.allow_crossing)
    frames = harmonize(rt, melody.tokens, melody.bar_pos, settings)
    sec_per_frame = 60.0 / melody.bpm / 4
    sent = []
    for voice in VOICES:
        ch = HARMONY_CHANNELS[voice]
        sent.append(SentMidi(0.0, (0xC0 | ch, HARMONY_PROGRAMS[voice])))
        column = frames[:, VOICES.index(voice)]
        start = None
        for f, tok in enumerate(list(column) + [1]):
            if tok == 2 and start is not None:
                continue
            if start is not None:
                sent.append(SentMidi(f * sec_per_frame - 1e-4, (0x80 | ch, start[1], 0)))
                start = None
            if tok >= 3:
                pitch = int(tok) - 3 + 21
                vel = 90 if voice == "S" else 70
                sent.append(SentMidi(f * sec_per_frame, (0x90 | ch, pitch, vel)))
                start = (f, pitch)
    out = save_midi(sent, args.output)
    print(f"wrote {out}: {len(frames)} frames, order {rt.order}, model {Path(model).name}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Training needs the train extra (torch); the live engine never imports it."""
    try:
        from models import export as model_export
        from models import train as model_train
    except ImportError as exc:
        raise CliError(f"training needs the train extra: pip install 'improv-engine[train]' "
                       f"({exc})") from None
    from .play.runtime import DEFAULT_MODEL

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = out_dir / "checkpoint.pt"
    argv = ["--minutes", str(args.minutes), "--steps", str(args.steps), "--out", str(ckpt)]
    if args.resume:
        argv += ["--resume", str(args.resume)]
    elif args.data:
        weights = DEFAULT_MODEL.with_name("improv_react_weights.pt")
        argv += ["--data", str(args.data), "--init", str(args.init or weights)]
    else:
        argv += ["--order", args.order]
    model_train.main(argv)
    meta = model_export.export(ckpt, out_dir)
    model = out_dir / meta["files"]["int8"]
    print(f"exported {model}: use it with improv harmonize --model {model}")
    return 0


def cmd_beats(args: argparse.Namespace) -> int:
    """Beats (or onsets) as the causal tracker committed them, one time in seconds a line."""
    from .io.files import InputFileError, read_wav
    from .listen.track import beats_of_audio, beats_of_midi, onsets_of_audio

    path = Path(args.input)
    suffix = path.suffix.lower()
    if suffix == ".wav" and not args.onsets:
        from .listen.activation import DEFAULT_MODEL

        samples, sr = read_wav(path)
        times, positions = beats_of_audio(
            samples, sr, with_positions=True, auto=args.tracker == "auto",
            band=args.tracker == "band",
            beat_model=None if args.tracker == "flux" else DEFAULT_MODEL)
        if args.bars:
            print("\n".join(f"{t:.3f}\t{p}" for t, p in zip(times, positions)))
        else:
            print("\n".join(f"{t:.3f}" for t in times))
        return 0
    if suffix == ".wav":
        samples, sr = read_wav(path)
        times = onsets_of_audio(samples, sr)
    elif suffix in (".mid", ".midi"):
        if args.onsets:
            from .events import is_note_on
            from .io.files import read_midi

            events, _ = read_midi(path)
            times = [e.t_sec for e in events if is_note_on(e.data)]
        else:
            times = beats_of_midi(str(path))
    else:
        raise InputFileError(f"cannot track {path.name}: expected a .wav, .mid or .midi file")
    print("\n".join(f"{t:.3f}" for t in times))
    return 0


def cmd_protocol(args: argparse.Namespace) -> int:
    print(protocol_table())
    return 0


def protocol_table() -> str:
    """The README's OSC table, generated from ``protocol.ROUTES``."""
    lines = [f"OSC protocol v{protocol.PROTOCOL_VERSION} (in: {protocol.DEFAULT_OSC_HOST}:"
             f"{protocol.DEFAULT_OSC_IN_PORT}, out: {protocol.DEFAULT_OSC_HOST}:"
             f"{protocol.DEFAULT_OSC_OUT_PORT})", "",
             "| address | direction | arguments | meaning |", "|---|---|---|---|"]
    for r in protocol.ROUTES:
        sig = " or ".join(f"`{s}`" if s else "none" for s in r.signatures)
        lines.append(f"| `{r.address}` | {r.direction} | {sig} | {r.doc} |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="improv", description="A real-time accompanist: it listens and plays along.")
    parser.add_argument("--version", action="version", version=f"improv {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("devices", help="list audio devices and MIDI ports per API")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    p.set_defaults(func=cmd_devices)

    p = sub.add_parser("run", help="play live: MIDI/audio in, MIDI/OSC out")
    _common(p)
    p.add_argument("--midi-in", metavar="PORT", help="player's MIDI input: port name or 'virtual'")
    p.add_argument("--midi-out", metavar="NAME|virtual", help="MIDI output (default: virtual)")
    p.add_argument("--midi-api", choices=["auto", "alsa", "jack"], help="rtmidi backend")
    p.add_argument("--audio-in", metavar="DEVICE",
                   help="audio input: a PortAudio device (name or index), or 'jack' / "
                        "'jack:PORT' for a JACK input that survives the server restarting")
    p.add_argument("--samplerate", type=int, metavar="HZ", help="audio sample rate")
    p.add_argument("--blocksize", type=int, metavar="FRAMES", help="audio block size")
    p.add_argument("--osc-port", type=int, metavar="PORT", help="OSC control port (default 9000)")
    p.add_argument("--osc-host", metavar="HOST", help="OSC listen address (default 127.0.0.1)")
    p.add_argument("--osc-out", metavar="HOST:PORT", help="OSC monitor output, or 'none'")
    p.add_argument("--osc-allow", metavar="ADDR,ADDR",
                   help="accept OSC only from these client addresses (with --osc-host 0.0.0.0)")
    p.add_argument("--midi-clock-out", action="store_true", help="send MIDI clock (24 ppqn)")
    p.add_argument("--thru", action="store_true", help="echo the player's notes on channel 1")
    p.add_argument("--duration", type=float, metavar="SEC", help="stop after SEC seconds")
    p.add_argument("--quiet", action="store_true",
                   help="no live status view (else: redrawn on a terminal, a line every 5 s "
                        "otherwise)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("render", help="the offline twin: run the engine on a MIDI or WAV file")
    _common(p)
    p.add_argument("input", metavar="INPUT.mid|INPUT.wav")
    p.add_argument("-o", "--output", required=True, metavar="OUT.mid")
    p.add_argument("--thru", action="store_true", help="include the player's notes (channel 1)")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("demo", help="render the bundled example into DIR/demo.mid (+ demo.wav)")
    _common(p)
    p.add_argument("--out", default="out", metavar="DIR", help="output folder (default: out)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("beats", help="print the beats the causal tracker commits, one a line")
    p.add_argument("input", metavar="INPUT.wav|INPUT.mid")
    p.add_argument("--onsets", action="store_true", help="print the onsets instead")
    p.add_argument("--bars", action="store_true",
                   help="audio: print each beat's position in the bar too (1 = downbeat, "
                        "0 = not known yet), from the audio's accents")
    p.add_argument("--tracker", choices=["auto", "flux", "learned", "band"], default="auto",
                   help="audio: beats from the spectral flux, the learned activation "
                        "(experimental), both at once (band), or (auto, the default) "
                        "whichever suits the music")
    p.set_defaults(func=cmd_beats)

    p = sub.add_parser("harmonize", help="add alto, tenor and bass to a melody, online")
    p.add_argument("melody", metavar="MELODY.mid")
    p.add_argument("-o", "--output", required=True, metavar="OUT.mid")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--anticipate", action="store_true",
                   help="commit each frame before its melody note (the anticipate model)")
    p.add_argument("--allow-crossing", action="store_true", help="let voices cross")
    p.add_argument("--model", type=Path, metavar="FILE.onnx", help="another exported model")
    p.set_defaults(func=cmd_harmonize)

    p = sub.add_parser("train", help="train the model, or fine-tune it on your own MIDI files")
    p.add_argument("--data", metavar="DIR", help="folder of MIDI files to fine-tune on "
                   "(melody = the highest track; default: train on the Bach chorales)")
    p.add_argument("--out", default="out/model", metavar="DIR", help="checkpoint + exported "
                   "model (default: out/model)")
    p.add_argument("--minutes", type=float, default=20.0, help="wall-clock budget")
    p.add_argument("--steps", type=int, default=1000, help="learning-rate schedule length")
    p.add_argument("--order", choices=["react", "anticipate"], default="react")
    p.add_argument("--init", type=Path, metavar="WEIGHTS.pt", help="weights to fine-tune")
    p.add_argument("--resume", type=Path, metavar="CHECKPOINT.pt", help="continue a run")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("protocol", help="print the OSC protocol table (Markdown)")
    p.set_defaults(func=cmd_protocol)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .io.audio import AudioDeviceError
    from .io.files import InputFileError
    from .io.jackclient import JackUnavailable
    from .io.midi import MidiPortError
    from .play.runtime import ModelFileError

    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        format="improv: %(levelname)s %(name)s: %(message)s", stream=sys.stderr,
    )
    try:
        return args.func(args)
    except (ConfigError, MidiPortError, AudioDeviceError, JackUnavailable, InputFileError,
            CliError, ModelFileError) as exc:
        print(f"improv: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"improv: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
