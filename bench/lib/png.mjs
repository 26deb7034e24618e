// @ts-check
// A minimal RGB raster with rectangles and 5×7 bitmap text, written out as a PNG (zlib from Node, CRC
// computed here): enough for a bar chart without any image package or system library.
import { deflateSync } from 'node:zlib';
import { GLYPH_HEIGHT, GLYPH_WIDTH, glyph } from './font.mjs';

/** @typedef {readonly [number, number, number]} Rgb */

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** @param {Uint8Array} bytes */
function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = /** @type {number} */ (CRC_TABLE[(c ^ b) & 0xff]) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** @param {string} type @param {Buffer} data */
function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

export class Canvas {
  /** @param {number} width @param {number} height @param {Rgb} background */
  constructor(width, height, background) {
    this.width = width;
    this.height = height;
    this.pixels = new Uint8Array(width * height * 3);
    this.fillRect(0, 0, width, height, background);
  }

  /** Clipped to the canvas. @param {number} x @param {number} y @param {number} w @param {number} h @param {Rgb} color */
  fillRect(x, y, w, h, color) {
    const x0 = Math.max(0, Math.round(x));
    const y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + w));
    const y1 = Math.min(this.height, Math.round(y + h));
    for (let py = y0; py < y1; py++) {
      for (let px = x0; px < x1; px++) this.pixels.set(color, (py * this.width + px) * 3);
    }
  }

  /** Width in pixels of `text` at `scale`. @param {string} text @param {number} scale */
  static textWidth(text, scale) {
    return text.length === 0 ? 0 : (text.length * (GLYPH_WIDTH + 1) - 1) * scale;
  }

  /** Height in pixels of a line at `scale`. @param {number} scale */
  static textHeight(scale) {
    return GLYPH_HEIGHT * scale;
  }

  /**
   * Draws `text` with its top-left corner at (x, y); align moves the anchor to the centre or right edge.
   * @param {number} x @param {number} y @param {string} text @param {Rgb} color
   * @param {{ scale?: number, align?: 'left' | 'center' | 'right' }} [options]
   */
  text(x, y, text, color, { scale = 1, align = 'left' } = {}) {
    const width = Canvas.textWidth(text, scale);
    let cx = align === 'center' ? x - width / 2 : align === 'right' ? x - width : x;
    for (const ch of text) {
      const rows = glyph(ch);
      rows.forEach((row, gy) => {
        for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
          if (row[gx] === '#') this.fillRect(cx + gx * scale, y + gy * scale, scale, scale, color);
        }
      });
      cx += (GLYPH_WIDTH + 1) * scale;
    }
  }

  /** The image as PNG bytes (8-bit RGB, no interlace, filter 0 on every row). */
  toPng() {
    const rowBytes = this.width * 3;
    const raw = Buffer.alloc((rowBytes + 1) * this.height);
    for (let y = 0; y < this.height; y++) {
      raw[y * (rowBytes + 1)] = 0;
      raw.set(this.pixels.subarray(y * rowBytes, (y + 1) * rowBytes), y * (rowBytes + 1) + 1);
    }
    const header = Buffer.alloc(13);
    header.writeUInt32BE(this.width, 0);
    header.writeUInt32BE(this.height, 4);
    header.set([8, 2, 0, 0, 0], 8); // bit depth 8, colour type RGB, deflate, filter set 0, no interlace
    return Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', header),
      chunk('IDAT', deflateSync(raw, { level: 9 })),
      chunk('IEND', Buffer.alloc(0)),
    ]);
  }
}
