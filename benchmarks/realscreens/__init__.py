"""Real-screen evaluation data for text grounding.

Screenshots of real HTML (Debian-packaged documentation and the web UI of a
locally started CUPS) rendered by headless Chromium, with word, line and
phrase boxes read from the live DOM.  See README.md in this folder.
"""
