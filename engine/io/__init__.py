"""Sources and sinks: audio (sounddevice), MIDI (rtmidi, memory, file), OSC."""
