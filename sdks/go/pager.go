package codex32

import "context"

// pager walks a v2 keyset list ({data, next_cursor}) one item at a time, fetching the next
// page when the current one is used up. The generated iterators (BotIterator, ...) embed it
// and add an accessor named after their item.
type pager[T any] struct {
	ctx   context.Context
	fetch func(ctx context.Context, cursor string) ([]T, *string, error)

	items   []T
	index   int
	cursor  *string
	started bool
	err     error
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
