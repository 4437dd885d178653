#!/usr/bin/env bash
# Debian/Ubuntu packages the app and its tests use: an X server for tests (Xvfb), the clipboard
# tools pyperclip needs for Unicode typing, Tesseract for the CPU OCR engine, Qt's xcb libraries,
# nginx with its njs module (the tests run the team server's proxy config, packaging/server/proxy/),
# chromium (tests open the OCR HTML export in a real headless browser), Xephyr and a small window
# manager (agent workspaces shown as a window / apps that need a WM),
# Noto CJK (the tests render Chinese and Japanese pages with it), and a headless GNOME Wayland session
# for the Wayland capture/input tests (mutter, PipeWire, the portals, GStreamer's PipeWire source),
# and a headless KDE one (KWin's --virtual backend, KDE's portal, Qt 5's Wayland plugin: ~190 MB;
# the QML modules its screenshot dialog loads even when not shown: 10 packages, ~12 MB);
# the app itself needs on a Wayland desktop only PipeWire's GStreamer source (--app-only list).
# Installs only what is missing; needs root or sudo.
set -euo pipefail
PKGS=(xvfb xauth xclip xdotool x11-utils tesseract-ocr tesseract-ocr-eng tesseract-ocr-deu tesseract-ocr-fra
      libxkbcommon-x11-0 libxcb-xinerama0 libxcb-icccm4 libxcb-keysyms1 libxcb-xkb1 libxcb-cursor0
      libxcb-image0 libxcb-render-util0 libxcb-randr0 libxcb-shape0 libgl1 libegl1 libfontconfig1 libdbus-1-3
      fonts-dejavu-core fonts-noto-cjk desktop-file-utils appstream nginx libnginx-mod-http-js
      xserver-xephyr matchbox-window-manager
      mutter xdg-desktop-portal xdg-desktop-portal-gnome pipewire wireplumber dbus-daemon dbus-bin
      gstreamer1.0-pipewire gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
      kwin-wayland xdg-desktop-portal-kde qtwayland5
      qml-module-qtquick-layouts qml-module-qtquick-controls2 qml-module-org-kde-kirigami2
      chromium)  # a real headless browser: the OCR HTML export must run no script
[ "${1:-}" = "--app-only" ] && PKGS=(xclip tesseract-ocr tesseract-ocr-eng tesseract-ocr-deu tesseract-ocr-fra fonts-noto-cjk
      libxkbcommon-x11-0 libxcb-xinerama0 libxcb-icccm4 libxcb-keysyms1 libxcb-xkb1 libxcb-cursor0
      libxcb-image0 libxcb-render-util0 libxcb-randr0 libxcb-shape0 libgl1 libegl1 libfontconfig1 libdbus-1-3
      gstreamer1.0-pipewire gstreamer1.0-tools gstreamer1.0-plugins-base)
command -v dpkg-query >/dev/null || { echo "not a Debian-like system: install ${PKGS[*]} by hand" >&2; exit 0; }
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing system packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# the tests start their own nginx on loopback ports; the system service the package may have
# started (port 80) is not wanted
if [[ " ${missing[*]} " == *" nginx "* ]] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
fi
