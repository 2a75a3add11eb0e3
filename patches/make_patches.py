"""Write improv's Pure Data and Max patches from the protocol module, so the code, the README
table and both patches cannot drift apart (``tests/test_patches.py`` fails if the committed
patches differ from what this script writes, or if an address is missing either way).

    python patches/make_patches.py        # writes improv.pd, improv-help.pd, improv.maxpat

Pd patch (vanilla only): a control panel of message boxes, each sending ``improv/ADDRESS
args`` to ``[r improv-send]``, which formats OSC (``[oscformat]``) and sends it with
``[netsend -u -b]`` to 127.0.0.1:9000; a monitor ``[netreceive -u -b 9001] -> [oscparse]``
that prints what improv sends (``improv-note: bass 48 88 0`` ...) and shows the beat; a sine
voice for the notes (switch DSP on to hear it). Other ports: send ``improv-in-port PORT`` /
``improv-out-port PORT`` (e.g. ``pd -send "improv-in-port 9100"``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from engine import protocol  # noqa: E402

IN_PORT, OUT_PORT = protocol.DEFAULT_OSC_IN_PORT, protocol.DEFAULT_OSC_OUT_PORT

# (OSC address, arguments) of each control of the panel; every IN address appears
R = protocol.ROLE_PREFIX
CONTROLS = [
    (protocol.START, ""), (protocol.START, "100"), (protocol.STOP, ""), (protocol.PANIC, ""),
    (protocol.TEMPO, "90"), (protocol.TEMPO, "120"), (protocol.TAP, ""), (protocol.STATUS, ""),
    (protocol.VERSION, ""), (protocol.RECONNECT, ""),
    (protocol.TEMPERATURE, "0.5"), (protocol.TEMPERATURE, "1"),
    (protocol.DENSITY, "0.2"), (protocol.DENSITY, "0.8"),
    (R + "bass", "1"), (R + "bass", "0"), (R + "chords", "1"), (R + "chords", "0"),
    (R + "answer", "1"), (R + "answer", "0"),
    (protocol.KEY, "free"), (protocol.KEY, "auto"), (protocol.KEY, "C"), (protocol.KEY, "9 minor"),
    (protocol.MODE, "accompany"), (protocol.MODE, "answer"), (protocol.MODE, "both"),
    (protocol.COMMIT, "0"), (protocol.COMMIT, "1"), (protocol.FOLLOW, "1"), (protocol.FOLLOW, "0"),
]
MONITOR = [protocol.NOTE, protocol.BEAT, protocol.BAR, protocol.ONSET, protocol.STATUS,
           protocol.REASON, protocol.ERROR, protocol.VERSION]


def _pd_escape(text: str) -> str:
    return text.replace("$", "\\$").replace(";", " \\;").replace(",", " \\,")


class PdCanvas:
    """Lines of a Pd file; every box gets the next index, as Pd numbers them."""

    def __init__(self, width: int = 1100, height: int = 760) -> None:
        self.lines = [f"#N canvas 40 40 {width} {height} 12;"]
        self.n = 0

    def _add(self, kind: str, x: int, y: int, text: str) -> int:
        self.lines.append(f"#X {kind} {x} {y} {text};")
        self.n += 1
        return self.n - 1

    def obj(self, x: int, y: int, text: str) -> int:
        return self._add("obj", x, y, text)

    def msg(self, x: int, y: int, text: str) -> int:
        return self._add("msg", x, y, _pd_escape(text))

    def comment(self, x: int, y: int, text: str) -> int:
        return self._add("text", x, y, _pd_escape(text))

    def atom(self, x: int, y: int) -> int:
        self.lines.append(f"#X floatatom {x} {y} 7 0 0 0 - - - 0;")
        self.n += 1
        return self.n - 1

    def connect(self, a: int, outlet: int, b: int, inlet: int) -> None:
        self.lines.append(f"#X connect {a} {outlet} {b} {inlet};")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def pd_patch() -> str:
    c = PdCanvas()
    version = protocol.PROTOCOL_VERSION
    c.comment(20, 10, f"improv control panel and monitor (OSC protocol v{version}): sends to "
              f"127.0.0.1:{IN_PORT}, listens on {OUT_PORT}. See improv-help.pd")
    # the panel: one message box per control, sent to [r improv-send]
    for i, (address, args) in enumerate(CONTROLS):
        col, row = divmod(i, 11)
        x, y = 20 + 190 * col, 50 + 34 * row
        path = address.lstrip("/")
        c.msg(x, y, f"; improv-send {path} {args}".rstrip())
    c.comment(20, 440, "set any tempo:")
    tempo_atom = c.atom(130, 440)
    tempo_msg = c.msg(130, 470, "; improv-send improv/tempo $1")
    c.connect(tempo_atom, 0, tempo_msg, 0)

    # sender: improv/ADDRESS args -> OSC over UDP
    x0, y0 = 620, 440
    r = c.obj(x0, y0, "r improv-send")
    lst = c.obj(x0, y0 + 30, "list")
    tee = c.obj(x0, y0 + 60, "t a a")
    addr = c.obj(x0 + 120, y0 + 90, "list split 1")
    prep = c.obj(x0 + 120, y0 + 120, "list prepend set")
    trim = c.obj(x0 + 120, y0 + 150, "list trim")
    rest = c.obj(x0, y0 + 120, "list split 1")
    fmt = c.obj(x0, y0 + 180, "oscformat")
    send = c.obj(x0, y0 + 210, "list prepend send")
    trim2 = c.obj(x0, y0 + 240, "list trim")
    net = c.obj(x0, y0 + 270, "netsend -u -b")
    c.connect(r, 0, lst, 0)
    c.connect(lst, 0, tee, 0)
    c.connect(tee, 1, addr, 0)
    c.connect(addr, 0, prep, 0)
    c.connect(prep, 0, trim, 0)
    c.connect(trim, 0, fmt, 0)
    c.connect(tee, 0, rest, 0)
    c.connect(rest, 1, fmt, 0)
    c.connect(fmt, 0, send, 0)
    c.connect(send, 0, trim2, 0)
    c.connect(trim2, 0, net, 0)
    lb = c.obj(x0 + 250, y0, "loadbang")
    conn = c.msg(x0 + 250, y0 + 30, f"connect 127.0.0.1 {IN_PORT}")
    c.connect(lb, 0, conn, 0)
    c.connect(conn, 0, net, 0)
    rin = c.obj(x0 + 250, y0 + 90, "r improv-in-port")
    reconn = c.msg(x0 + 250, y0 + 120, "disconnect, connect 127.0.0.1 $1")
    c.connect(rin, 0, reconn, 0)
    c.connect(reconn, 0, net, 0)

    # monitor: OSC from improv -> print (stderr with -stderr) and the beat display
    x1, y1 = 20, 520
    lb2 = c.obj(x1, y1, "loadbang")
    listen = c.msg(x1, y1 + 30, f"listen {OUT_PORT}")
    rout = c.obj(x1 + 130, y1, "r improv-out-port")
    relisten = c.msg(x1 + 130, y1 + 30, "listen 0, listen $1")
    recv = c.obj(x1, y1 + 60, "netreceive -u -b")
    c.connect(lb2, 0, listen, 0)
    c.connect(listen, 0, recv, 0)
    c.connect(rout, 0, relisten, 0)
    c.connect(relisten, 0, recv, 0)
    parse = c.obj(x1, y1 + 90, "oscparse")
    trim3 = c.obj(x1, y1 + 120, "list trim")
    top = c.obj(x1, y1 + 150, "route improv")
    names = [a.split("/")[-1] for a in MONITOR]
    sub = c.obj(x1, y1 + 180, "route " + " ".join(names))
    c.connect(recv, 0, parse, 0)
    c.connect(parse, 0, trim3, 0)
    c.connect(trim3, 0, top, 0)
    c.connect(top, 0, sub, 0)
    for i, name in enumerate(names):
        p = c.obj(x1 + 110 * i, y1 + 215, f"print improv-{name}")
        c.connect(sub, i, p, 0)
    # the beat: index bpm phase confidence
    unpack = c.obj(x1 + 110, y1 + 245, "unpack f f f f")
    c.connect(sub, names.index("beat"), unpack, 0)
    for i, label in enumerate(("beat", "bpm", "phase", "confidence")):
        a = c.atom(x1 + 110 + 80 * i, y1 + 275)
        c.connect(unpack, i, a, 0)
        c.comment(x1 + 110 + 80 * i, y1 + 300, label)
    # a sine voice for the notes: role pitch velocity duration
    voice = c.obj(x1 + 500, y1 + 245, "list split 1")
    c.connect(sub, names.index("note"), voice, 0)
    nunpack = c.obj(x1 + 500, y1 + 275, "unpack f f f")
    c.connect(voice, 1, nunpack, 0)
    mtof = c.obj(x1 + 500, y1 + 305, "mtof")
    osc = c.obj(x1 + 500, y1 + 335, "osc~")
    env = c.msg(x1 + 600, y1 + 305, "$1 5, 0 600 5")
    scale = c.obj(x1 + 600, y1 + 275, "/ 600")
    line = c.obj(x1 + 600, y1 + 335, "vline~")
    mul = c.obj(x1 + 500, y1 + 365, "*~")
    dac = c.obj(x1 + 500, y1 + 395, "dac~")
    c.connect(nunpack, 0, mtof, 0)
    c.connect(mtof, 0, osc, 0)
    c.connect(nunpack, 1, scale, 0)
    c.connect(scale, 0, env, 0)
    c.connect(env, 0, line, 0)
    c.connect(osc, 0, mul, 0)
    c.connect(line, 0, mul, 1)
    c.connect(mul, 0, dac, 0)
    c.connect(mul, 0, dac, 1)
    dsp_on = c.msg(x1 + 700, y1 + 365, "; pd dsp 1")
    dsp_off = c.msg(x1 + 700, y1 + 395, "; pd dsp 0")
    c.comment(x1 + 780, y1 + 365, "hear the notes (sine voice)")
    del dsp_on, dsp_off
    return c.text()


def pd_help() -> str:
    c = PdCanvas(760, 520)
    lines = [
        "improv.pd drives improv over OSC from Pd vanilla.",
        f"1. start improv: improv run --midi-in virtual (OSC in on {IN_PORT}, monitor out to "
        f"127.0.0.1:{OUT_PORT})",
        "2. open improv.pd: click the message boxes to control it (start, tempo, roles, mode, "
        "key, temperature, density, commit, follow, panic)",
        "3. what improv plays and hears prints in the Pd window (improv-note, improv-beat, "
        "improv-status ...) and the beat shows in the number boxes; switch DSP on to hear a "
        "sine voice",
        "Any message to [s improv-send] is sent as OSC: the first word is the address "
        "without its leading slash (improv/tempo 132)",
        "Other ports: [; improv-in-port 9100( and [; improv-out-port 9101(",
        "/improv/note role pitch velocity duration: velocity 0 is a note-off; duration 0 "
        "means until that note-off",
    ]
    for i, line in enumerate(lines):
        c.comment(20, 20 + 40 * i, line)
    c.obj(20, 320, "improv")  # the patch itself, as an abstraction next to this file
    return c.text()


def max_patch() -> str:
    """Max: message boxes with OSC addresses into [udpsend], [udpreceive] into [route]."""
    boxes, lines = [], []

    def box(kind: str, text: str, x: float, y: float, n_in: int = 1, n_out: int = 1) -> str:
        i = f"obj-{len(boxes) + 1}"
        b = {"id": i, "maxclass": kind, "numinlets": n_in, "numoutlets": n_out,
             "patching_rect": [x, y, max(60.0, 7.0 * len(text)), 22.0], "text": text}
        if kind == "message":
            b["outlettype"] = [""]
        boxes.append({"box": b})
        return i

    def link(a: str, outlet: int, b: str, inlet: int) -> None:
        lines.append({"patchline": {"source": [a, outlet], "destination": [b, inlet]}})

    send = box("newobj", f"udpsend 127.0.0.1 {IN_PORT}", 40.0, 520.0, 1, 0)
    for i, (address, args) in enumerate(CONTROLS):
        col, row = divmod(i, 11)
        m = box("message", f"{address} {args}".rstrip(), 40.0 + 220 * col, 40.0 + 40 * row)
        link(m, 0, send, 0)
    recv = box("newobj", f"udpreceive {OUT_PORT}", 700.0, 40.0, 1, 1)
    route = box("newobj", "route " + " ".join(MONITOR), 700.0, 80.0, 1, len(MONITOR) + 1)
    link(recv, 0, route, 0)
    for i, address in enumerate(MONITOR):
        p = box("newobj", f"print {address.split('/')[-1]}", 700.0 + 90 * i, 120.0, 1, 0)
        link(route, i, p, 0)
    doc = {"patcher": {
        "fileversion": 1, "appversion": {"major": 8, "minor": 5, "revision": 0},
        "rect": [50.0, 50.0, 1400.0, 700.0], "boxes": boxes, "lines": lines,
        "description": f"improv control panel and monitor, OSC protocol v"
                       f"{protocol.PROTOCOL_VERSION}; made by patches/make_patches.py",
    }}
    return json.dumps(doc, indent=1) + "\n"


def all_patches() -> dict[str, str]:
    return {"improv.pd": pd_patch(), "improv-help.pd": pd_help(), "improv.maxpat": max_patch()}


def main() -> int:
    for name, text in all_patches().items():
        (HERE / name).write_text(text)
        print(f"wrote {HERE / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
