"""The live desktop of a Wayland session: capture and input through the compositor's D-Bus APIs.

Two routes (`probe.py` picks one by `screen.wayland_route`): GNOME's own
`org.gnome.Mutter.ScreenCast` / `RemoteDesktop` (`mutter.py`, no dialog), and xdg-desktop-portal's
ScreenCast / RemoteDesktop portals (`portal.py`, `portal_session.py`: KDE Plasma, wlroots
desktops, any desktop; consent dialog, restore tokens). Both give a `remote.RemoteSession`:
frames arrive as PipeWire streams read with GStreamer's `pipewiresrc` (`frames.py`), input goes
as pointer/keyboard events. Still frames can also come from the Screenshot portal
(`screenshot.py`: one picture per call, no stream; `screen.wayland_capture`). Agent workspaces
(their own X servers) do not need any of this.
"""
