#!/bin/bash
# The Draw tab under a real X server, driven like a person: xdotool mouse strokes and keys.
#
#   scripts/screenshots/draw_tab.sh light|dark DISPLAY_NUMBER OUT_DIR
#
# Needs Xvfb, xdotool and ImageMagick's import (apt-get install -y xvfb xdotool imagemagick).
# Takes: launch after 1 s (the window before torch), default size before/after a stroke drawn
# with the mouse, a hovered map's close-up, the minimum size before/after, every menu, and
# checks that Ctrl+Q quits (an ambiguous shortcut would not). OUT_DIR (absolute) gets the PNGs.
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../.." && pwd); PY="$ROOT/.venv/bin/python"
set -u
THEME=$1; D=$2; OUT=$3
export DISPLAY=:$D
HOME_DIR=$(mktemp -d); rm -rf $HOME_DIR; mkdir -p $HOME_DIR
printf '[ui]\ntheme=%s\n' $THEME > $HOME_DIR/settings.ini
Xvfb :$D -screen 0 1280x860x24 -nolisten tcp >/dev/null 2>&1 &
XPID=$!
sleep 1.5
cd "$ROOT"
DIGITPAD_HOME=$HOME_DIR QT_QPA_PLATFORM=xcb .venv/bin/digitpad > $OUT/app-$THEME.log 2>&1 &
APID=$!
sleep 1.0
import -window root $OUT/$THEME-launch-1s.png
sleep 7
WID=$(xdotool search --name '^digitpad$' | head -1)
echo "window $WID"; xdotool getwindowgeometry $WID
stroke() {  # stroke x0 y0 w h
  local x=$1 y=$2 w=$3 h=$4
  s() { echo "$((x + w * $1 / 280)) $((y + h * $2 / 280))"; }
  # a square image: map into the centred square
  local side=$(( w < h ? w : h )); x=$((x + (w - side) / 2)); y=$((y + (h - side) / 2)); w=$side; h=$side
  xdotool mousemove $(s 80 60); xdotool mousedown 1
  for p in "110 60" "140 60" "170 60" "200 60" "192 78" "185 95" "177 112" "170 130" "162 150" "155 170" "147 190" "140 210" "135 222" "130 235"; do
    xdotool mousemove $(s $p); sleep 0.02
  done
  xdotool mouseup 1
}
shoot() { sleep 1.2; eval $(xdotool getwindowgeometry --shell $WID); import -window root -crop ${WIDTH}x${HEIGHT}+0+0 +repage $OUT/$1.png; }
shoot $THEME-default-before
read X0 Y0 X1 Y1 < <("$PY" "$HERE/find_canvas.py" $OUT/$THEME-default-before.png $THEME)
echo "canvas default: $X0 $Y0 $X1 $Y1"
stroke $X0 $Y0 $((X1-X0)) $((Y1-Y0))
shoot $THEME-default-after
xdotool mousemove 830 123; sleep 0.3; xdotool mousemove 831 124
shoot $THEME-default-hover
xdotool mousemove 300 300
"$PY" "$HERE/find_canvas.py" $OUT/$THEME-default-after.png $THEME || true
xdotool windowfocus --sync $WID; xdotool key ctrl+l
MIN=$(cd "$ROOT" && QT_QPA_PLATFORM=offscreen DIGITPAD_HOME=$(mktemp -d) "$PY" -c "from PySide6.QtWidgets import QApplication; app = QApplication([]); from digitpad.app.main_window import MainWindow; w = MainWindow(); print(*w.minimumSizeHint().toTuple())" 2>/dev/null | tail -1)
xdotool windowsize $WID $MIN  # no window manager: Qt's minimum is applied by hand
shoot $THEME-min-before
xdotool getwindowgeometry $WID
read X0 Y0 X1 Y1 < <("$PY" "$HERE/find_canvas.py" $OUT/$THEME-min-before.png $THEME)
echo "canvas min: $X0 $Y0 $X1 $Y1"
stroke $X0 $Y0 $((X1-X0)) $((Y1-Y0))
shoot $THEME-min-after
"$PY" "$HERE/find_canvas.py" $OUT/$THEME-min-after.png $THEME || true
xdotool windowsize $WID 1240 820
sleep 1
# every menu once
i=0
for m in f e v s h; do
  xdotool windowfocus --sync $WID; xdotool key alt+$m; sleep 0.8; import -window root $OUT/$THEME-menu-$m.png; xdotool key Escape; sleep 0.3
done
# Ctrl+Q must quit
xdotool windowfocus --sync $WID; xdotool key ctrl+q
for t in 1 2 3 4 5 6 7 8 9 10; do kill -0 $APID 2>/dev/null || break; sleep 0.5; done
if kill -0 $APID 2>/dev/null; then echo "CTRL+Q DID NOT QUIT"; kill $APID; else echo "ctrl+q quit the app"; fi
grep -i "ambiguous" $OUT/app-$THEME.log && echo "AMBIGUOUS in log"
kill $XPID
