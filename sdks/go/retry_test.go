package codex32

// The retry policy, the same in the three SDKs: GET, HEAD, PUT and DELETE, and any request
// carrying an Idempotency-Key, are retried on 429, 502, 503 and 504 and on connection errors;
// a POST or PATCH without a key never is. And enum values the SDK does not know are kept.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"
)

// scripted answers each request with the next status of statuses (then 200 with body),
// "Retry-After: 0" on the failures, and records the methods it was sent.
type scripted struct {
	mu       sync.Mutex
	statuses []int
	body     string
	methods  []string
	keys     []string
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.methods = append(s.methods, r.Method)
	s.keys = append(s.keys, r.Header.Get("Idempotency-Key"))
	if len(s.statuses) > 0 {
		status := s.statuses[0]
		s.statuses = s.statuses[1:]
		w.Header().Set("Retry-After", "0")
		problem(w, status, "x", "busy", "")
		return
	}
	if s.body == "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	fmt.Fprint(w, s.body)
}

func (s *scripted) reset(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statuses, s.methods, s.keys = statuses, nil, nil
}

const executionJSON = `{"id": "e1", "bot_id": "b1", "version": 1, "status": "queued",
	"trigger": "api", "attempt": 1, "cancel_requested": false, "input": {}, "logs": "",
	"logs_truncated": false, "queued_at": "2026-12-04T00:00:00Z"}`

func TestIdempotentCallsAreRetriedOn429502503504(t *testing.T) {
	// 502 and 504 (a proxy's) were answered at once: only 429 and 503 were retried.
	script := &scripted{body: botJSON}
	server := serve(t, script.ServeHTTP)
	c := NewClient(server.URL, WithAPIKey("k"))
	script.reset(502, 504, 429)
	if _, err := c.Bots.Get(context.Background(), "b1", nil); err != nil || len(script.methods) != 4 {
		t.Fatalf("err = %v after %q", err, script.methods)
	}
	script.body = ""
	script.reset(503)
	if err := c.Schedules.Delete(context.Background(), "b1"); err != nil ||
		fmt.Sprint(script.methods) != "[DELETE DELETE]" {
		t.Fatalf("err = %v after %q", err, script.methods)
	}
}

func TestAPostOrPatchWithoutAKeyIsNeverRetried(t *testing.T) {
	// A POST that creates (a bot, a chat) was sent again on 429: two bots, two charges.
	script := &scripted{body: botJSON}
	server := serve(t, script.ServeHTTP)
	c := NewClient(server.URL, WithAPIKey("k"))
	ctx := context.Background()
	name := "c"
	calls := map[string]func() error{
		"create bot": func() error { _, err := c.Bots.Create(ctx, &BotCreate{Name: "b"}); return err },
		"update bot": func() error { _, err := c.Bots.Update(ctx, "b1", &BotUpdate{Name: &name}); return err },
		"chat": func() error {
			_, err := c.LLM.Chat(ctx, &Chat{Messages: []Message{{Role: "user", Content: "hi"}}})
			return err
		},
	}
	for _, status := range []int{503, 429, 502} {
		for what, call := range calls {
			script.reset(status)
			var e *Error
			if err := call(); !errors.As(err, &e) || e.StatusCode != status || len(script.methods) != 1 {
				t.Errorf("%s after %d: err = %v after %q", what, status, err, script.methods)
			}
		}
	}
}

func TestAPostWithAKeyIsRetriedWithTheSameKey(t *testing.T) {
	script := &scripted{body: executionJSON}
	server := serve(t, script.ServeHTTP)
	c := NewClient(server.URL, WithAPIKey("k"))
	script.reset(502, 504)
	body := &ExecutionCreate{Input: map[string]any{}}
	if _, err := c.Executions.Create(context.Background(), "b1", body, nil); err != nil {
		t.Fatal(err)
	}
	if len(script.keys) != 3 || script.keys[0] == "" || script.keys[0] != script.keys[2] {
		t.Fatalf("keys sent: %q", script.keys)
	}
}

// unreachable is a transport whose every connection fails with err, counting the attempts.
type unreachable struct {
	err     error
	methods []string
}

func (u *unreachable) RoundTrip(r *http.Request) (*http.Response, error) {
	u.methods = append(u.methods, r.Method)
	return nil, u.err
}

func TestConnectionErrorsAreRetriedOnlyForIdempotentCalls(t *testing.T) {
	// A connection error ended every call at once, even a GET.
	for _, failure := range []error{
		&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED},
		&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET},
	} {
		transport := &unreachable{err: failure}
		c := NewClient("http://127.0.0.1:9", WithAPIKey("k"),
			WithHTTPClient(&http.Client{Transport: transport}), WithBackoff(time.Millisecond))
		ctx := context.Background()
		if _, err := c.Bots.Get(ctx, "b1", nil); err == nil || len(transport.methods) != 4 {
			t.Errorf("%v: GET err = %v after %q", failure, err, transport.methods)
		}
		transport.methods = nil
		if _, err := c.Bots.Create(ctx, &BotCreate{Name: "b"}); err == nil ||
			len(transport.methods) != 1 {
			t.Errorf("%v: POST err = %v after %q", failure, err, transport.methods)
		}
		transport.methods = nil
		body := &ExecutionCreate{Input: map[string]any{}}
		if _, err := c.Executions.Create(ctx, "b1", body, nil); err == nil ||
			len(transport.methods) != 4 {
			t.Errorf("%v: keyed POST err = %v after %q", failure, err, transport.methods)
		}
	}
}

func TestTheBackoffIsJitteredAndBounded(t *testing.T) {
	// It was 0.5 s, 1 s, 2 s exactly: clients failed together retried together.
	seen := map[time.Duration]bool{}
	for i := 0; i < 50; i++ {
		wait := jittered(defaultBackoff, 2)
		if wait < 0 || wait > 2*time.Second {
			t.Fatalf("jittered(0.5 s, 2) = %v", wait)
		}
		seen[wait] = true
	}
	if len(seen) < 2 {
		t.Fatalf("jittered(0.5 s, 2) is always %v: no jitter", seen)
	}
	if wait := jittered(defaultBackoff, 40); wait < 0 || wait > 8*time.Second {
		t.Fatalf("jittered(0.5 s, 40) = %v, want at most 8 s", wait)
	}
}

func TestAnUnknownEnumValueIsKeptAsItsRawString(t *testing.T) {
	// A status a newer server adds must reach an old client as the string it is.
	future := `{"id": "e1", "bot_id": "b1", "version": 1, "status": "paused_for_review",
		"trigger": "webhook", "attempt": 1, "cancel_requested": false, "input": {},
		"logs": "", "logs_truncated": false, "queued_at": "2026-12-04T00:00:00Z"}`
	server := serve(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, future) })
	c := NewClient(server.URL, WithAPIKey("k"))
	execution, err := c.Executions.Get(context.Background(), "e1", nil)
	if err != nil || execution.Status != "paused_for_review" || execution.Trigger != "webhook" {
		t.Fatalf("execution %+v, err %v", execution, err)
	}
}
