"""The live desktop of a Wayland session: capture and input through the compositor's D-Bus APIs.

GNOME (Mutter) offers `org.gnome.Mutter.ScreenCast` and `org.gnome.Mutter.RemoteDesktop`, the
APIs its xdg-desktop-portal backend uses underneath; frames arrive as PipeWire streams and are
read with GStreamer's `pipewiresrc`. The xdg-desktop-portal ScreenCast handshake (consent dialog,
restore token) is in `portal.py`. Agent workspaces (their own X servers) do not need any of this.
"""
