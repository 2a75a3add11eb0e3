# improv: the two set-up commands are `make demo` and `make test`.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
OUT     ?= out
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PKGS := jackd2 libportaudio2 jack-tools fluidsynth fluid-soundfont-gm puredata-core
TOOLS   := jackd jack_lsp fluidsynth pd
SF2     := /usr/share/sounds/sf2/FluidR3_GM.sf2

.PHONY: demo test system-deps venv lint bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## Render the bundled example through the engine into $(OUT)/demo.mid (+ demo.wav).
demo: $(STAMP)
	$(BIN)/improv demo --out $(OUT)

## Unit + integration tests (installs the Debian packages first when any is missing).
test: system-deps $(STAMP)
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

lint: $(STAMP)
	$(BIN)/ruff check .

## Real-time figures under JACK dummy (prints, asserts nothing).
bench: system-deps $(STAMP)
	$(BIN)/python bench/realtime.py

clean:
	rm -rf $(VENV) $(OUT) *.egg-info
