package codex32

import "context"

// pager walks a v2 keyset list ({data, next_cursor}) one item at a time, fetching the next
// page when the current one is used up. The generated iterators (BotIterator, ...) embed it
// and add an accessor named after their item.
type pager[T any] struct {
	ctx   context.Context
	fetch func(ctx context.Context, cursor string) ([]T, *string, error)

	items    []T
	index    int
	cursor   *string
	started  bool
	seen     map[string]bool // the cursors followed: one given again ends the walk
	repeated error           // the error that ends it, once this page's items are used up
	err      error
}

func (p *pager[T]) init(ctx context.Context,
	fetch func(context.Context, string) ([]T, *string, error)) {
	p.ctx, p.fetch, p.index = ctx, fetch, -1
}

// Next advances to the next item, fetching a page when needed; false at the end or on an
// error (see Err).
func (p *pager[T]) Next() bool {
	if p.err != nil {
		return false
	}
	p.index++
	for p.index >= len(p.items) {
		if p.started && p.cursor == nil {
			p.err = p.repeated
			return false
		}
		cursor := ""
		if p.cursor != nil {
			cursor = *p.cursor
		}
		items, next, err := p.fetch(p.ctx, cursor)
		if err != nil {
			p.err = err
			return false
		}
		if p.seen == nil {
			p.seen = map[string]bool{}
		}
		p.seen[cursor] = true
		if next != nil && p.seen[*next] {
			// A server (or a cache on the way) answering a page again: following its
			// cursor would walk the same pages forever. This page's items are still given.
			p.repeated = &Error{StatusCode: 502, Type: "urn:codex32:problem:bad-gateway",
				Title: "Bad Gateway", Detail: "the server repeated a cursor of this list: " +
					"its pages would never end"}
			next = nil
		}
		p.started = true
		p.items, p.cursor = items, next
		p.index = 0
	}
	return true
}

// Err is the error that stopped Next, nil when the list simply ended.
func (p *pager[T]) Err() error { return p.err }

// Cursor is the next_cursor of the last page fetched (nil: it was the last page), to resume
// the walk later with the list's Cursor option.
func (p *pager[T]) Cursor() *string { return p.cursor }

func (p *pager[T]) current() *T {
	if p.index < 0 || p.index >= len(p.items) {
		return nil
	}
	return &p.items[p.index]
}
