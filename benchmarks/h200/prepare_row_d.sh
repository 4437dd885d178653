#!/usr/bin/env bash
# Issue 17 row D: the device payload for agent workspaces (Xvfb + the real Qt test form) on the
# lent GPU machine, which has no X server, no X libraries and no internet. Run HERE (Debian 12, apt
# and pip reach their registries), from the repo root:
#     bash benchmarks/h200/prepare_row_d.sh .gpu/d1        # an ignored folder; stays < 60 MiB
# It holds:
#   debs/*.deb     Xvfb, xkbcomp + xkb-data, xclip (Unicode typing), xauth, and the X/xcb/GL/font
#                  libraries that Xvfb and PySide6's xcb platform plugin load (see DEBS below: the
#                  closure minus what an Ubuntu 24.04 CUDA image has; install_row_d.sh links only the
#                  libraries the device lacks, so carrying one too many is harmless)
#   wheels/*.whl   python-xlib, six, mss, pyperclip, pynput (py3, small)
#   pyside6.tar.xz PySide6-Essentials + shiboken6 6.12.0 (cp312 abi3 manylinux_2_34), installed and
#                  trimmed to what a QtWidgets app on xcb needs (QtCore/Gui/Widgets/DBus/XcbQpa/OpenGL,
#                  the platforms + xcbglintegrations plugins): 84 MB as a wheel, ~25 MB here
#   install_row_d.sh   a copy of the device-side installer
# Then on the device (the payload carried): `bash .gpu/d1/install_row_d.sh .gpu/d1` (see that file).
set -euo pipefail
OUT=${1:?usage: prepare_row_d.sh OUT_FOLDER (e.g. .gpu/d1)}
HERE=$(cd "$(dirname "$0")" && pwd)
PYSIDE_VERSION=${PYSIDE_VERSION:-6.12.0}
PIP=${PIP:-.venv/bin/pip}
mkdir -p "$OUT/debs" "$OUT/wheels"
OUT=$(cd "$OUT" && pwd)
# Debian 12 packages (the device's glibc is newer: fine). Left out on purpose: libc6, libstdc++6,
# libgcc-s1, zlib1g, libzstd1, liblzma5, libbz2-1.0, libexpat1, libffi8, libselinux1, libsystemd0,
# libgcrypt20, libgpg-error0, libcap*, libaudit*, libmount1, libblkid1, libuuid1, libpcre2-8-0,
# libmd0 (all in any Ubuntu 24.04 image: python3 and apt need them), Mesa's DRI drivers + LLVM
# (Xvfb runs without GLX acceleration; Qt widgets draw in software), and apt/dpkg tooling.
DEBS=(
  xvfb xserver-common x11-common xkb-data x11-xkb-utils xauth xclip
  libxfont2 libfontenc1 libpixman-1-0 libxkbfile1 libunwind8 libbsd0 libxau6 libxdmcp6
  libx11-6 libx11-data libx11-xcb1 libxcb1 libxext6 libxrender1 libxrandr2 libxfixes3 libxi6
  libxtst6 libxinerama1 libxcursor1 libxmu6 libxmuu1 libxaw7 libxt6 libsm6 libice6 libxpm4
  libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0
  libxcb-render0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-shm0 libxcb-sync1 libxcb-util1
  libxcb-xfixes0 libxcb-glx0 libxcb-xinput0 libxkbcommon0 libxkbcommon-x11-0
  libegl1 libgl1 libglx0 libglvnd0 libopengl0 libdbus-1-3 libglib2.0-0
  libfontconfig1 fontconfig-config libfreetype6 libpng16-16 libbrotli1 fonts-dejavu-core
)
(cd "$OUT/debs" && rm -f ./*.deb && apt-get download "${DEBS[@]}" >/dev/null)
echo "debs: $(ls "$OUT/debs" | wc -l) files, $(du -sm "$OUT/debs" | cut -f1) MiB"
# The list above against apt's own closure of what the workspaces run (Xvfb, xkbcomp, xauth, xclip):
# every package apt says they need must be carried or one of the left-outs named above (base
# libraries of any Ubuntu image, the Mesa/DRI stack that only GLX would load). A new dependency in
# a newer Debian shows up here instead of as a missing library on the device.
LEFT_OUT='libc6 libstdc++6 libgcc-s1 gcc-*-base zlib1g libzstd1 liblzma5 libbz2-1.0 libexpat1 libffi8
  libselinux1 libsystemd0 libelogind0 liblz4-1 libgcrypt20 libgpg-error0 libcap2 libcap-ng0 libaudit1
  libaudit-common libmount1 libblkid1 libuuid1 libpcre2-8-0 libmd0 libtinfo6 lsb-base sysvinit-utils
  libgl1-mesa-dri libglx-mesa0 libglapi-mesa libllvm* libdrm* libxcb-dri2-0 libxcb-dri3-0
  libxcb-present0 libxshmfence1 libxxf86vm1 libz3-* libxml2 libicu* libsensors* libelf1 libedit2 libpciaccess0'
unexpected=()
while read -r pkg; do
  carried=0; for f in "$OUT"/debs/"${pkg}"_*.deb; do [ -e "$f" ] && carried=1; done
  [ $carried = 1 ] && continue
  for pattern in $LEFT_OUT; do [[ $pkg == $pattern ]] && continue 2; done
  unexpected+=("$pkg")
done < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
           --no-replaces --no-enhances xvfb x11-xkb-utils xauth xclip xkb-data 2>/dev/null | grep -v '^[ <]' | sort -u)
if [ ${#unexpected[@]} -gt 0 ]; then
  echo "closure check: apt says the workspaces also need ${unexpected[*]}: add them to DEBS (or to LEFT_OUT, saying why)"
  exit 1
fi
echo "closure check: every dependency apt lists for xvfb, x11-xkb-utils, xauth, xclip is carried or left out on purpose"

# small pure-Python wheels (the versions of the project's venv)
rm -f "$OUT/wheels"/*.whl
"$PIP" download -q --no-deps --only-binary=:all: -d "$OUT/wheels" \
  python-xlib==0.33 six==1.17.0 mss==10.2.0 pyperclip==1.11.0 pynput==1.8.2
# PySide6: the cp312 abi3 manylinux wheels, installed into a temp folder and trimmed
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
"$PIP" download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_34_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  -d "$TMP/whl" "PySide6-Essentials==$PYSIDE_VERSION" "shiboken6==$PYSIDE_VERSION"
mkdir -p "$TMP/site"
for w in "$TMP"/whl/*.whl; do (cd "$TMP/site" && python3 -m zipfile -e "$w" .); done
P="$TMP/site/PySide6"
KEEP_MODULES="QtCore QtGui QtWidgets QtDBus QtOpenGL"
for f in "$P"/Qt*.abi3.so "$P"/Qt*.pyi; do
  m=$(basename "$f"); m=${m%%.*}
  [[ " $KEEP_MODULES " == *" $m "* ]] || rm -f "$f"
done
for f in "$P"/Qt/lib/libQt6*.so.6; do
  m=$(basename "$f" .so.6); m=${m#libQt6}
  [[ " Core Gui Widgets DBus XcbQpa OpenGL " == *" $m "* ]] || rm -f "$f"
done
for d in "$P"/Qt/plugins/*; do
  case $(basename "$d") in platforms|xcbglintegrations|imageformats|platforminputcontexts) ;; *) rm -rf "$d" ;; esac
done
rm -rf "$P"/Qt/qml "$P"/Qt/translations "$P"/Qt/metatypes "$P"/Qt/libexec "$P"/{designer,assistant,linguist,lupdate,lrelease,uic,rcc,qmlls,qmlformat,qmllint,qmltyperegistrar,qmlimportscanner,qmlcachegen,balsam,balsamui,svgtoqml,androiddeploy*} \
  "$P"/scripts "$P"/examples "$P"/glue "$P"/include "$P"/typesystems 2>/dev/null || true
rm -f "$P"/Qt/plugins/platforms/libq{eglfs,linuxfb,minimalegl,vkkhrdisplay,vnc,wayland*}.so 2>/dev/null || true
find "$TMP/site" -name '__pycache__' -prune -exec rm -rf {} +
tar -C "$TMP/site" -cJf "$OUT/pyside6.tar.xz" .
cp "$HERE/install_row_d.sh" "$OUT/"
echo "pyside6.tar.xz: $(du -sm "$OUT/pyside6.tar.xz" | cut -f1) MiB (unpacked $(du -sm "$TMP/site" | cut -f1) MiB)"
echo "payload $OUT: $(du -sm "$OUT" | cut -f1) MiB"
