import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
target = (255, 255, 255) if sys.argv[2] == "light" else (0, 0, 0)
W, H = im.size
px = im.load()
# the window's left part: find the first long run of paper pixels going down at several x
best = None
for x in range(60, 500, 20):
    y = 70
    while y < H:
        if px[x, y] == target:
            y0 = y
            while y < H and px[x, y] == target:
                y += 1
            if y - y0 > 100:
                if best is None or y0 < best[1] - 5 or (abs(y0 - best[1]) <= 5 and y - y0 > best[3] - best[1]):
                    best = (x, y0, x, y)
                break
        y += 1
x, y0, _, y1 = best
# horizontal extent at the middle row
ym = (y0 + y1) // 2
xl = x
while xl > 0 and px[xl - 1, ym] == target:
    xl -= 1
xr = x
while xr < W - 1 and px[xr + 1, ym] == target:
    xr += 1
print(xl, y0, xr, y1)
