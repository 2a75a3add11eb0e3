"""The Pd and Max patches against the protocol module: each address they send is an input
of the protocol, each input is reachable from the panel, the monitor routes every output;
and the committed files are what patches/make_patches.py writes (so none can drift)."""

import json
import re
import sys
from pathlib import Path

from engine import protocol

PATCHES = Path(__file__).resolve().parent.parent / "patches"
sys.path.insert(0, str(PATCHES))

import make_patches  # noqa: E402


def test_committed_patches_are_generated_from_the_protocol():
    for name, text in make_patches.all_patches().items():
        assert (PATCHES / name).read_text() == text, \
            f"patches/{name} is stale: run python patches/make_patches.py"


def test_max_patch_uses_exactly_the_protocol():
    doc = json.loads((PATCHES / "improv.maxpat").read_text())
    boxes = [b["box"] for b in doc["patcher"]["boxes"]]
    sent = {b["text"].split()[0] for b in boxes if b["maxclass"] == "message"}
    assert sent == set(protocol.IN_ROUTES)  # nothing unknown, every control reachable
    routes = [b["text"].split()[1:] for b in boxes
              if b["maxclass"] == "newobj" and b["text"].startswith("route ")]
    assert len(routes) == 1 and set(routes[0]) == set(protocol.OUT_ROUTES)
    ids = {b["id"] for b in boxes}
    udpsend = next(b["id"] for b in boxes if b["text"].startswith("udpsend "))
    wired = {ln["patchline"]["source"][0] for ln in doc["patcher"]["lines"]
             if ln["patchline"]["destination"][0] == udpsend}
    assert wired == {b["id"] for b in boxes if b["maxclass"] == "message"} and wired <= ids
    assert any(b["text"] == f"udpreceive {protocol.DEFAULT_OSC_OUT_PORT}" for b in boxes)


def test_pd_patch_uses_exactly_the_protocol():
    text = (PATCHES / "improv.pd").read_text()
    sent = {"/" + m for m in re.findall(r"improv-send (improv/[\w/]+)", text)}
    assert sent == set(protocol.IN_ROUTES)
    routes = re.findall(r"#X obj \d+ \d+ route ([\w ]+);", text)
    assert routes[0] == "improv" and len(routes) == 2
    names = set(routes[1].split())
    assert {"/improv/" + n for n in names} == set(protocol.OUT_ROUTES)
    assert "netsend -u -b" in text and "netreceive -u -b" in text and "oscformat" in text
