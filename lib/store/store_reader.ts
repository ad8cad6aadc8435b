// The read side of the store: a family as the store holds it, its scrape text rendered a piece
// at a time, and the reads of the whole aggregate that a scrape streams.

import { renderPiece } from "../expose/render.ts";
import type { MetricType } from "../core/model.ts";
import type { SeriesTable } from "./series_table.ts";

/** A family as the store holds it. Owned by the store: callers must not modify it. */
export interface StoredFamily {
  readonly name: string;
  readonly type: MetricType;
  help: string | undefined;
  /**
   * The series by canonical label key, with their values and, only with a `seriesTTL` (the one
   * thing that reads them), the times they were last pushed to in milliseconds of the store's
   * clock. It keeps its slots sorted by key, merging in new series when they are read or many.
   */
  readonly series: SeriesTable;
  /** The family's scrape text, kept until the family next changes. */
  text: FamilyText | undefined;
}

/** A piece of the scrape text: whole lines of one family, as UTF-8. */
export interface TextPiece {
  readonly plain: Uint8Array<ArrayBuffer>;
  /**
   * The piece compressed for a gzip body (`deflatePiece`): a cache the scrape fills the first
   * time it sends the piece gzipped, kept with the piece.
   */
  deflated: Uint8Array<ArrayBuffer> | undefined;
}

/**
 * A family's scrape text as the family was when the text was begun, rendered a piece at a time
 * as readers ask for it. The store finishes it before the family changes if an open read has yet
 * to send all of it, so it never mixes two states of the family.
 */
export class FamilyText {
  readonly #family: StoredFamily;
  readonly #pieces: TextPiece[] = [];
  /** The family's slots in render order, taken when the first piece renders. */
  #order: Int32Array | undefined;
  /** The index in the order of the first series not rendered yet. */
  #next = 0;
  #done = false;
  /** Bytes of the pieces rendered so far. */
  #bytes = 0;
  /** Open reads that have yet to read all of this text. */
  readonly readers = new Set<StoreReader>();
  /**
   * Set by the store once the family has changed and the text is kept only for `readers`: told
   * when the last of them lets go, so that the store stops counting its bytes.
   */
  onReleased: (() => void) | undefined;

  constructor(family: StoredFamily) {
    this.#family = family;
  }

  /** Open reads that have yet to read all of this text. */
  get waiting(): number {
    return this.readers.size;
  }

  /** Bytes of the pieces rendered so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** `reader` is done with this text. */
  release(reader: StoreReader): void {
    if (this.readers.delete(reader) && this.readers.size === 0) this.onReleased?.();
  }

  /** Pieces rendered so far. */
  get length(): number {
    return this.#pieces.length;
  }

  /** Piece `i`, rendered first if need be; undefined past the last one. */
  piece(i: number): TextPiece | undefined {
    while (this.#pieces.length <= i && !this.#done) this.#renderNext();
    return this.#pieces[i];
  }

  /**
   * Renders what is left, unless the text would then hold more than `room` bytes: then it stops
   * and returns false.
   */
  finish(room = Infinity): boolean {
    while (!this.#done) {
      if (this.#bytes > room) return false;
      this.#renderNext();
    }
    return this.#bytes <= room;
  }

  #renderNext(): void {
    const family = this.#family;
    const order = this.#order ??= family.series.sorted();
    const [plain, next] = renderPiece(family, family.series, order, this.#next);
    this.#pieces.push({ plain, deflated: undefined });
    this.#bytes += plain.byteLength;
    this.#next = next;
    this.#done = next >= order.length;
  }
}

/** Why a read ended early: it fell too far behind the changes of the aggregate. */
export class ScrapeCutOff extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ScrapeCutOff";
  }
}

/**
 * One read of the whole aggregate, from {@linkcode Store.read}: the pieces of its text in order,
 * each rendered when asked for. It reads the store as it was when the read began, whatever
 * changes meanwhile; {@linkcode StoreReader.close} it when done (reading to the end closes it).
 */
export class StoreReader {
  /** The texts of the families in order; each is dropped once read, to free it sooner. */
  readonly #texts: (FamilyText | undefined)[];
  #family = 0;
  #piece = 0;
  #rendered = 0;
  #release: (() => void) | undefined;
  /** Why the store cut this read off, if it did. */
  #cutOff: Error | undefined;

  constructor(texts: FamilyText[], release: () => void) {
    this.#texts = texts;
    this.#release = release;
    for (const text of texts) text.readers.add(this);
  }

  /** Pieces this read rendered, as opposed to found rendered by an earlier read. */
  get rendered(): number {
    return this.#rendered;
  }

  /**
   * The next piece, or undefined at the end or once closed. The pieces are the store's: never
   * write to their bytes.
   */
  next(): TextPiece | undefined {
    if (this.#cutOff !== undefined) throw this.#cutOff;
    if (this.#release === undefined) return undefined;
    while (this.#family < this.#texts.length) {
      const text = this.#texts[this.#family]!;
      const before = text.length;
      const piece = text.piece(this.#piece);
      this.#piece++;
      this.#rendered += text.length - before;
      if (piece !== undefined) return piece;
      text.release(this);
      this.#texts[this.#family++] = undefined;
      this.#piece = 0;
    }
    this.close();
    return undefined;
  }

  /** Ends the read; the store then stops keeping its view. Closing twice does nothing. */
  close(): void {
    if (this.#release === undefined) return;
    for (let i = this.#family; i < this.#texts.length; i++) {
      this.#texts[i]!.release(this);
      this.#texts[i] = undefined;
    }
    this.#release();
    this.#release = undefined;
  }

  /**
   * Ends the read because the store will not keep its view: its next `next()` throws `reason`.
   * What it held is let go at once, whether or not its reader ever asks again.
   */
  cutOff(reason: Error): void {
    if (this.#release === undefined) return;
    this.#cutOff = reason;
    this.close();
  }
}
