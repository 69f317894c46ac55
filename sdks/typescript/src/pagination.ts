/** Iterating v2's keyset lists (`{data, next_cursor}`) across pages. */

import { Codex32Error } from "./errors.js";

/** One answer of a v2 list. */
export interface Page<T> {
  data: T[];
  next_cursor?: string | null;
}

/**
 * The items of a list, page after page: `for await (const bot of client.bots.list())`.
 * Each page is fetched when the previous one is used up; `pages()` yields whole pages.
 */
export class Paginator<T> implements AsyncIterable<T> {
  constructor(private readonly fetchPage: (cursor: string | undefined) => Promise<Page<T>>) {}

  /**
   * The pages, first to last. A next cursor the list gave already (a server, or a cache on
   * the way, answering a page again) ends it with a `Codex32Error` (502): following it would
   * loop forever.
   */
  async *pages(): AsyncGenerator<Page<T>, void, undefined> {
    let cursor: string | undefined;
    const seen = new Set<string | undefined>([undefined]);
    do {
      const page = await this.fetchPage(cursor);
      yield page;
      cursor = page.next_cursor ?? undefined;
      if (cursor !== undefined && seen.has(cursor)) {
        throw new Codex32Error({
          type: "urn:codex32:problem:bad-gateway", title: "Bad Gateway", status: 502,
          detail: "the server repeated a cursor of this list: its pages would never end" });
      }
      seen.add(cursor);
    } while (cursor);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for await (const page of this.pages()) yield* page.data;
  }

  /** Every item, all pages read (mind the size of the list). */
  async toArray(): Promise<T[]> {
    const items: T[] = [];
    for await (const item of this) items.push(item);
    return items;
  }
}
