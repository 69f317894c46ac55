package codex32

// Offline tests: the client against httptest servers on 127.0.0.1 that answer what a test
// needs (retries, Retry-After, refresh, errors, pages, the chat stream).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const botJSON = `{"id": "b1", "name": "n", "description": "", "status": "draft",
	"current_version": 0, "settings": {}, "created_at": "2026-12-04T00:00:00Z",
	"updated_at": "2026-12-04T00:00:00Z"}`

func serve(t *testing.T, handler http.HandlerFunc) *httptest.Server {
	t.Helper()
	server := httptest.NewServer(handler)
	t.Cleanup(server.Close)
	return server
}

func problem(w http.ResponseWriter, status int, kind, detail string, extra string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"type": "urn:codex32:problem:%s", "title": %q, "status": %d,
		"detail": %q, "instance": "/x", "request_id": "rq1"%s}`,
		kind, http.StatusText(status), status, detail, extra)
}

func TestA503IsRetriedAfterTheWaitItNames(t *testing.T) {
	var calls int
	server := serve(t, func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls == 1 {
			w.Header().Set("Retry-After", "1")
			problem(w, 503, "unavailable", "busy", "")
			return
		}
		fmt.Fprint(w, botJSON)
	})
	c := NewClient(server.URL, WithAPIKey("k"))
	started := time.Now()
	bot, err := c.Bots.Get(context.Background(), "b1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(started); waited < 900*time.Millisecond {
		t.Fatalf("retried after %v, before the 1 s Retry-After", waited)
	}
	if bot.ID != "b1" || calls != 2 {
		t.Fatalf("bot %q after %d calls", bot.ID, calls)
	}
}

func TestARetryAfterPastTheDeadlineEndsTheCallAtOnce(t *testing.T) {
	var calls int
	server := serve(t, func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Retry-After", "10")
		problem(w, 429, "rate-limited", "slow down", "")
	})
	c := NewClient(server.URL, WithAPIKey("k"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	started := time.Now()
	_, err := c.Bots.Get(ctx, "b1", nil)
	var e *Error
	if !errors.Is(err, ErrRateLimited) || !errors.As(err, &e) || e.RetryAfter != 10*time.Second {
		t.Fatalf("err = %v", err)
	}
	if time.Since(started) > 500*time.Millisecond || calls != 1 {
		t.Fatalf("waited %v over %d calls", time.Since(started), calls)
	}
}

func TestRetriesAreBounded(t *testing.T) {
	var calls int
	server := serve(t, func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Retry-After", "0.01")
		problem(w, 429, "rate-limited", "slow down", "")
	})
	c := NewClient(server.URL, WithAPIKey("k"), WithRetries(2, time.Second))
	if _, err := c.Bots.Get(context.Background(), "b1", nil); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("err = %v", err)
	}
	if calls != 3 {
		t.Fatalf("%d calls, want 1 + 2 retries", calls)
	}
}

func TestAnExecutionKeepsItsIdempotencyKeyAcrossRetries(t *testing.T) {
	var keys []string
	server := serve(t, func(w http.ResponseWriter, r *http.Request) {
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		if len(keys)%2 == 1 {
			w.Header().Set("Retry-After", "0.01")
			problem(w, 503, "unavailable", "busy", "")
			return
		}
		w.WriteHeader(202)
		fmt.Fprint(w, `{"id": "e1", "bot_id": "b1", "version": 1, "status": "queued",
			"trigger": "api", "attempt": 1, "cancel_requested": false, "input": {},
			"logs": "", "logs_truncated": false, "queued_at": "2026-12-04T00:00:00Z"}`)
	})
	c := NewClient(server.URL, WithAPIKey("k"))
	ctx := context.Background()
	body := &ExecutionCreate{Input: map[string]any{"n": 1}}
	if _, err := c.Executions.Create(ctx, "b1", body, nil); err != nil {
		t.Fatal(err)
	}
	given := &CreateExecutionOptions{IdempotencyKey: "mine"}
	if _, err := c.Executions.Create(ctx, "b1", body, given); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 4 || keys[0] == "" || keys[0] != keys[1] || keys[2] != "mine" ||
		keys[3] != "mine" {
		t.Fatalf("keys sent: %q", keys)
	}
}

func TestAPostWithoutIdempotencyIsNotRetriedOn503(t *testing.T) {
	var calls int
	server := serve(t, func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Retry-After", "0.01")
		problem(w, 503, "unavailable", "busy", "")
	})
	c := NewClient(server.URL, WithAPIKey("k"))
	_, err := c.Bots.Create(context.Background(), &BotCreate{Name: "x"})
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrServer) || calls != 1 {
		t.Fatalf("err = %v after %d calls", err, calls)
	}
}

func TestProblemDetailsBecomeTypedErrors(t *testing.T) {
	server := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			problem(w, 422, "invalid-input", "json.name: must not be blank",
				`, "errors": [{"location": "json", "pointer": "/name", "detail": "blank"}]`)
			return
		}
		problem(w, 404, "not-found", "bot not found", "")
	})
	c := NewClient(server.URL, WithAPIKey("k"))
	_, err := c.Bots.Get(context.Background(), "nope", nil)
	var e *Error
	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) || !errors.As(err, &e) {
		t.Fatalf("err = %v", err)
	}
	if e.Type != "urn:codex32:problem:not-found" || e.Detail != "bot not found" ||
		e.RequestID != "rq1" || !strings.Contains(e.Error(), "404 bot not found") {
		t.Fatalf("error = %+v", e)
	}
	_, err = c.Bots.Create(context.Background(), &BotCreate{})
	if !errors.Is(err, ErrInvalidInput) || !errors.As(err, &e) || len(e.Errors) != 1 ||
		e.Errors[0].Pointer != "/name" {
		t.Fatalf("err = %v (%+v)", err, e)
	}
}

func TestV1ErrorsBecomeTypedErrors(t *testing.T) {
	server := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(422)
		fmt.Fprint(w, `{"code": 422, "status": "Unprocessable Entity",
			"message": "invalid input", "errors": {"json": {"messages": ["required"]}}}`)
	})
	_, err := NewClient(server.URL, WithAPIKey("k")).LLM.Chat(context.Background(), &Chat{})
	var e *Error
	if !errors.Is(err, ErrInvalidInput) || !errors.As(err, &e) || e.Detail != "invalid input" ||
		e.FieldErrors["json"] == nil {
		t.Fatalf("err = %v (%+v)", err, e)
	}
}

func TestARefusedAccessTokenIsRefreshedOnceAndTheCallRepeated(t *testing.T) {
	var mu sync.Mutex
	var refreshes int
	server := serve(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		auth := r.Header.Get("Authorization")
		switch {
		case r.URL.Path == "/api/v1/auth/refresh" && auth == "Bearer r1":
			refreshes++
			fmt.Fprint(w, `{"access_token": "a2", "refresh_token": "r2",
				"token_type": "bearer", "expires_in": 900}`)
		case auth == "Bearer a2":
			fmt.Fprint(w, botJSON)
		default:
			problem(w, 401, "unauthenticated", "the token has expired", "")
		}
	})
	c := NewClient(server.URL, WithTokens("a1", "r1"))
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Bots.Get(context.Background(), "b1", nil); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if access, refresh := c.Tokens(); access != "a2" || refresh != "r2" || refreshes != 1 {
		t.Fatalf("tokens %q %q after %d refreshes", access, refresh, refreshes)
	}
}

func TestARefusedRefreshIsTheError(t *testing.T) {
	server := serve(t, func(w http.ResponseWriter, r *http.Request) {
		problem(w, 401, "unauthenticated", "the token has expired", "")
	})
	_, err := NewClient(server.URL, WithTokens("a1", "r1")).Bots.Get(context.Background(), "b",
		nil)
	if !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("err = %v", err)
	}
}

func TestAPasswordClientSignsInOnFirstUse(t *testing.T) {
	var logins []Login
	server := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/auth/token" {
			var login Login
			_ = json.NewDecoder(r.Body).Decode(&login)
			logins = append(logins, login)
			fmt.Fprint(w, `{"access_token": "a1", "refresh_token": "r1",
				"token_type": "bearer", "expires_in": 900}`)
			return
		}
		if r.Header.Get("Authorization") != "Bearer a1" {
			problem(w, 401, "unauthenticated", "no", "")
			return
		}
		fmt.Fprint(w, botJSON)
	})
	c := NewClient(server.URL, WithPassword("a@example.com", "pw", "ws-1"))
	for i := 0; i < 2; i++ {
		if _, err := c.Bots.Get(context.Background(), "b1", nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(logins) != 1 || logins[0].Email != "a@example.com" || *logins[0].Workspace != "ws-1" {
		t.Fatalf("logins: %+v", logins)
	}
}

func TestTheIteratorWalksEveryPage(t *testing.T) {
	server := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("status") != "active" || r.Header.Get("X-API-Key") != "k" {
			problem(w, 400, "malformed-request", "filters or key lost", "")
			return
		}
		bot := func(id string) string { return strings.Replace(botJSON, `"b1"`, `"`+id+`"`, 1) }
		switch r.URL.Query().Get("cursor") {
		case "":
			fmt.Fprintf(w, `{"data": [%s, %s], "next_cursor": "c2"}`, bot("1"), bot("2"))
		case "c2":
			fmt.Fprintf(w, `{"data": [], "next_cursor": "c3"}`)
		case "c3":
			fmt.Fprintf(w, `{"data": [%s], "next_cursor": null}`, bot("3"))
		default:
			problem(w, 400, "malformed-request", "cursor", "")
		}
	})
	it := NewClient(server.URL, WithAPIKey("k")).Bots.List(context.Background(),
		&ListBotsOptions{Status: "active", Limit: 2})
	var ids []string
	for it.Next() {
		ids = append(ids, it.Bot().ID)
	}
	if it.Err() != nil || strings.Join(ids, ",") != "1,2,3" || it.Next() {
		t.Fatalf("ids %v, err %v", ids, it.Err())
	}
}

func TestTheIteratorStopsAtACursorTheServerRepeats(t *testing.T) {
	// A server (or a cache on the way) answering a page again made the walk loop forever.
	fetched := 0
	server := serve(t, func(w http.ResponseWriter, r *http.Request) {
		fetched++
		if fetched > 10 {
			problem(w, 400, "malformed-request", "looping", "")
			return
		}
		next := map[string]string{"": "a", "a": "b", "b": "a"}[r.URL.Query().Get("cursor")]
		fmt.Fprintf(w, `{"data": [%s], "next_cursor": %q}`, botJSON, next)
	})
	it := NewClient(server.URL, WithAPIKey("k")).Bots.List(context.Background(), nil)
	count := 0
	for it.Next() {
		count++
	}
	if count != 3 || fetched != 3 || !errors.Is(it.Err(), ErrServer) {
		t.Fatalf("items %d, pages %d, err %v", count, fetched, it.Err())
	}
}

func TestTheIteratorStopsAtAnError(t *testing.T) {
	server := serve(t, func(w http.ResponseWriter, r *http.Request) {
		problem(w, 403, "forbidden", "no", "")
	})
	it := NewClient(server.URL, WithAPIKey("k")).AuditLogs.List(context.Background(), nil)
	if it.Next() || !errors.Is(it.Err(), ErrForbidden) {
		t.Fatalf("err = %v", it.Err())
	}
}

func sseServer(t *testing.T, body string) *Client {
	server := serve(t, func(w http.ResponseWriter, r *http.Request) {
		var chat Chat
		if err := json.NewDecoder(r.Body).Decode(&chat); err != nil || chat.Stream == nil ||
			!*chat.Stream {
			problem(w, 400, "malformed-request", "not a stream", "")
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, body)
	})
	return NewClient(server.URL, WithAPIKey("k"))
}

func chat() *Chat {
	return &Chat{Messages: []Message{{Role: "user", Content: "hello"}}}
}

func TestTheChatStreamYieldsTextChunksThenTheAnswer(t *testing.T) {
	c := sseServer(t, "event: chunk\ndata: {\"text\": \"echo: \"}\n\n: a comment\n\n"+
		"event: chunk\r\ndata: {\"text\": \"hello\"}\r\n\r\n"+
		"event: done\ndata: {\"provider\": \"p\", \"model\": \"m\", \"text\": \"\", "+
		"\"cache_hit\": false, \"latency_ms\": 3, \"attempts\": [], \"usage\": "+
		"{\"input_tokens\": 1, \"output_tokens\": 2, \"cached_input_tokens\": 0, "+
		"\"reasoning_tokens\": 0, \"total_tokens\": 3}}\n\n")
	stream, err := c.LLM.ChatStream(context.Background(), chat())
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for stream.Next() {
		text.WriteString(stream.Text())
	}
	if stream.Err() != nil || text.String() != "echo: hello" || stream.Done() == nil ||
		stream.Done().Usage.OutputTokens != 2 {
		t.Fatalf("text %q, err %v, done %+v", text.String(), stream.Err(), stream.Done())
	}
}

func TestAnErrorEventEndsTheChatStreamWithATypedError(t *testing.T) {
	c := sseServer(t, "event: chunk\ndata: {\"text\": \"a\"}\n\nevent: error\ndata: "+
		"{\"code\": 502, \"status\": \"Bad Gateway\", \"message\": \"provider down\"}\n\n")
	stream, err := c.LLM.ChatStream(context.Background(), chat())
	if err != nil {
		t.Fatal(err)
	}
	chunks := 0
	for stream.Next() {
		chunks++
	}
	var e *Error
	if chunks != 1 || !errors.Is(stream.Err(), ErrServer) || !errors.As(stream.Err(), &e) ||
		e.Detail != "provider down" {
		t.Fatalf("%d chunks, err %v", chunks, stream.Err())
	}
}

func TestACutChatStreamIsAnError(t *testing.T) {
	c := sseServer(t, "event: chunk\ndata: {\"text\": \"a\"}\n\nevent: chu")
	stream, err := c.LLM.ChatStream(context.Background(), chat())
	if err != nil {
		t.Fatal(err)
	}
	for stream.Next() {
	}
	if !errors.Is(stream.Err(), io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v", stream.Err())
	}
}

func TestTheTimeoutBoundsARequest(t *testing.T) {
	server := serve(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		fmt.Fprint(w, botJSON)
	})
	c := NewClient(server.URL, WithAPIKey("k"), WithTimeout(50*time.Millisecond))
	if _, err := c.Bots.Get(context.Background(), "b1", nil); err == nil ||
		!strings.Contains(err.Error(), "Timeout") {
		t.Fatalf("err = %v", err)
	}
}

func TestRetryAfterTakesSecondsOrADate(t *testing.T) {
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{"": 0, "3": 3 * time.Second, "junk": 0, "-1": 0,
		now.Add(5 * time.Second).Format(http.TimeFormat): 5 * time.Second}
	for value, want := range cases {
		if got := retryAfter(value, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", value, got, want)
		}
	}
}

func TestARetryAfterTooLongForADurationIsNotRetriedAtOnce(t *testing.T) {
	// 99999999999 s overflows a time.Duration: read as a wrap-around (negative) wait, it
	// became a short backoff and the call was retried at once instead of ending.
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	for _, value := range []string{"99999999999", "1e300", "+Inf"} {
		if got := retryAfter(value, now); got < 100*365*24*time.Hour {
			t.Errorf("retryAfter(%q) = %v, want the longest wait", value, got)
		}
	}
	if got := retryAfter("NaN", now); got != 0 {
		t.Errorf("retryAfter(\"NaN\") = %v, want 0 (not a wait)", got)
	}
	var calls int
	server := serve(t, func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Retry-After", "99999999999")
		problem(w, 429, "rate-limited", "come back much later", "")
	})
	c := NewClient(server.URL, WithAPIKey("k"))
	started := time.Now()
	if _, err := c.Bots.Get(context.Background(), "b1", nil); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("err = %v", err)
	}
	if calls != 1 || time.Since(started) > 500*time.Millisecond {
		t.Fatalf("%d calls in %v, want 1 at once", calls, time.Since(started))
	}
}

func TestPrintingAClientShowsNoCredential(t *testing.T) {
	clients := []*Client{
		NewClient("http://127.0.0.1:9", WithAPIKey("c32_secret-api-key")),
		NewClient("http://127.0.0.1:9", WithTokens("secret-access", "secret-refresh")),
		NewClient("http://127.0.0.1:9", WithPassword("ada@example.com", "secret-password", "")),
	}
	for _, c := range clients {
		shown := fmt.Sprintf("%v %+v %#v", c, c, c)
		for _, secret := range []string{"c32_secret-api-key", "secret-access", "secret-refresh",
			"secret-password"} {
			if strings.Contains(shown, secret) {
				t.Errorf("%s is shown: %s", secret, shown)
			}
		}
		if !strings.Contains(shown, "127.0.0.1:9") {
			t.Errorf("the server is not shown: %s", shown)
		}
	}
	if access, refresh := clients[1].Tokens(); access != "secret-access" || refresh != "secret-refresh" {
		t.Errorf("Tokens() = %q, %q", access, refresh)
	}
}
