"""The .ttpack archive: format, writer and reader."""
