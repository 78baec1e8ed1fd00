"""Where the Draw tab's canvas is in a screenshot: x0 y0 x1 y1 of the paper-coloured square.

Scans the window's left part for long vertical runs of paper pixels and keeps the highest one
whose row is as wide as it is tall (the canvas is square); a thin white gap between feature-map
tiles is as tall but not as wide (at the minimum window size it sits where the scan looks).
"""
import sys

from PIL import Image

im = Image.open(sys.argv[1]).convert("RGB")
target = (255, 255, 255) if sys.argv[2] == "light" else (0, 0, 0)
W, H = im.size
px = im.load()


def extent(x, y0, y1):
    ym = (y0 + y1) // 2
    xl = x
    while xl > 0 and px[xl - 1, ym] == target:
        xl -= 1
    xr = x
    while xr < W - 1 and px[xr + 1, ym] == target:
        xr += 1
    return xl, xr


best = None
for x in range(60, 500, 20):
    y = 70
    while y < H:
        if px[x, y] == target:
            y0 = y
            while y < H and px[x, y] == target:
                y += 1
            if y - y0 > 100:
                xl, xr = extent(x, y0, y)
                if (xr - xl) > 0.8 * (y - y0) and (
                        best is None or y0 < best[1] - 5 or (abs(y0 - best[1]) <= 5 and y - y0 > best[3] - best[1])):
                    best = (xl, y0, xr, y)
                break
        y += 1
if best is None:  # e.g. ink across the canvas's middle row: the caller only needs it before
    sys.exit("no empty canvas found")
print(*best)
