# improv: the two set-up commands are `make demo` and `make test`.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
STAMP_DEV := $(VENV)/.installed-dev
OUT     ?= out
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PKGS := jackd2 libportaudio2 jack-tools fluidsynth fluid-soundfont-gm puredata-core
TOOLS   := jackd jack_lsp fluidsynth pd
SF2     := /usr/share/sounds/sf2/FluidR3_GM.sf2

.PHONY: demo test system-deps venv lint bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -e .
	touch $(STAMP)

# tests also need the dev tools and the train extra (torch CPU build, pinned; music21; onnx)
$(STAMP_DEV): $(STAMP)
	$(BIN)/pip install -q -e '.[dev,train]'
	touch $(STAMP_DEV)

venv: $(STAMP_DEV)

## Render the bundled example through the engine into $(OUT)/demo.mid (+ demo.wav).
demo: $(STAMP)
	$(BIN)/improv demo --out $(OUT)

## Unit + integration tests (installs the Debian packages first when any is missing).
test: system-deps $(STAMP_DEV)
	$(BIN)/python -m pytest -q -ra

## Debian packages for the real audio/MIDI stack (JACK dummy, FluidSynth, Pd).
system-deps:
	@missing=0; for t in $(TOOLS); do command -v $$t >/dev/null || missing=1; done; \
	[ -f $(SF2) ] || missing=1; \
	ldconfig -p 2>/dev/null | grep -q libportaudio.so.2 || missing=1; \
	if [ $$missing = 1 ]; then \
	  echo "installing system packages: $(APT_PKGS)"; \
	  $(SUDO) apt-get update -qq && \
	  echo "jackd2 jackd/tweak_rt_limits boolean false" | $(SUDO) debconf-set-selections && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PKGS); \
	else echo "system packages present"; fi

lint: $(STAMP_DEV)
	$(BIN)/ruff check .

## Real-time figures under JACK dummy (prints, asserts nothing).
bench: system-deps $(STAMP_DEV)
	$(BIN)/python bench/realtime.py
	$(BIN)/python bench/model_quality.py

clean:
	rm -rf $(VENV) $(OUT) *.egg-info
