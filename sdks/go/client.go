// Package codex32 is the Go client of the Codex-32 API: v2 for bots, versions, executions,
// schedules, API keys, members, audit logs and usage; v1 for sign-in and the LLM gateway.
//
// The operations and models are generated from the OpenAPI snapshots (generate.py); this file
// holds what no document describes: authentication with token refresh, retries honouring
// Retry-After, and the one request path every operation takes.
//
// The retry policy, the same in the three SDKs (sdks/README.md): GET, HEAD, PUT and DELETE, and
// any request carrying an Idempotency-Key (the SDK sends one with Executions.Create, the one
// POST the server deduplicates by it), are retried on 429, 502, 503 and 504 and on connection
// errors (refused, reset, closed before an answer), never after a timeout; a POST or PATCH
// without a key is never sent twice. The wait is the answer's Retry-After when it names one,
// else full-jitter exponential backoff; at most 3 more attempts, and no wait that would end
// past the retry deadline (30 s from the call's start) or the context's deadline.
package codex32

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// SDKVersion is the SDK's version: its major.minor is the API version it speaks (2.0), its patch
// counts SDK releases for that API.
const SDKVersion = "2.0.0"

const (
	defaultTimeout    = 60 * time.Second
	defaultMaxRetries = 3
	defaultDeadline   = 30 * time.Second
	defaultBackoff    = 500 * time.Millisecond
	maxBackoff        = 8 * time.Second
)

// Client calls one Codex-32 server as one credential. It is safe for concurrent use.
type Client struct {
	servicesOfClient

	baseURL    string
	http       *http.Client
	stream     *http.Client // no overall timeout: a chat stream lasts as long as it lasts
	maxRetries int
	deadline   time.Duration // no retry's wait ends later than this after the call began
	backoff    time.Duration // the first backoff's bound, without a Retry-After
	userAgent  string

	mu         sync.Mutex // guards the credentials below
	refreshing sync.Mutex // one refresh at a time
	apiKey     string
	access     string
	refresh    string
	login      *Login // password sign-in, done on first use
}

// Option configures a Client.
type Option func(*Client)

// WithAPIKey authenticates with a workspace API key (sent as X-API-Key).
func WithAPIKey(key string) Option {
	return func(c *Client) { c.apiKey = key }
}

// WithTokens authenticates with an access token and the refresh token issued with it; on a
// 401 the client exchanges the refresh token once and repeats the request.
func WithTokens(access, refresh string) Option {
	return func(c *Client) { c.access, c.refresh = access, refresh }
}

// WithPassword signs in with email and password (workspace: slug or id, "" for the only one)
// on the first request, then behaves as WithTokens.
func WithPassword(email, password, workspace string) Option {
	return func(c *Client) {
		c.login = &Login{Email: email, Password: password}
		if workspace != "" {
			c.login.Workspace = &workspace
		}
	}
}

// WithTimeout bounds each request, its answer included (default 60 s; 0: no bound). Chat
// streams are bounded by their context instead.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) { c.http.Timeout = d }
}

// WithHTTPClient uses hc (its Transport and Timeout) for every request.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.http = hc }
}

// WithRetries sets how many times a call the retry policy allows is retried (default 3; 0: no
// retries) and the retry deadline (default 30 s from the call's start): a wait (Retry-After or
// backoff) that would end past it, or past the context's deadline, ends the call with the error
// at once.
func WithRetries(max int, deadline time.Duration) Option {
	return func(c *Client) { c.maxRetries, c.deadline = max, deadline }
}

// WithBackoff sets the backoff used when an answer names no Retry-After: a random wait up to
// base × 2^retry (at most 8 s). Default 0.5 s.
func WithBackoff(base time.Duration) Option {
	return func(c *Client) { c.backoff = base }
}

// NewClient returns a client of the server at baseURL (e.g. "https://codex32.example.com",
// without /api).
func NewClient(baseURL string, opts ...Option) *Client {
	c := &Client{
		baseURL:    strings.TrimRight(baseURL, "/"),
		http:       &http.Client{Timeout: defaultTimeout},
		maxRetries: defaultMaxRetries,
		deadline:   defaultDeadline,
		backoff:    defaultBackoff,
		userAgent:  "codex32-go/" + SDKVersion,
	}
	for _, opt := range opts {
		opt(c)
	}
	c.stream = &http.Client{Transport: c.http.Transport, CheckRedirect: c.http.CheckRedirect,
		Jar: c.http.Jar}
	c.initServices()
	return c
}

// Tokens returns the current access and refresh tokens ("" with an API key), e.g. to store
// them after a refresh.
func (c *Client) Tokens() (access, refresh string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.access, c.refresh
}

// Format prints the client as its server and the kind of its credential, never the
// credential itself (a client printed with %v or %+v, or logged, would otherwise show them).
func (c *Client) Format(f fmt.State, _ rune) {
	c.mu.Lock()
	kind := "none"
	switch {
	case c.apiKey != "":
		kind = "API key"
	case c.access != "" || c.refresh != "":
		kind = "tokens"
	case c.login != nil:
		kind = "password"
	}
	c.mu.Unlock()
	fmt.Fprintf(f, "codex32.Client{%s, credential: %s}", c.baseURL, kind)
}

// request is one operation's call, as the generated code describes it.
type request struct {
	method string
	path   string
	query  url.Values
	header http.Header
	body   any
	auth   bool // send the client's credentials
	stream bool // the answer is read by the caller (LLM.ChatStream)
}

func (r *request) setQuery(name, value string) {
	if r.query == nil {
		r.query = url.Values{}
	}
	r.query.Set(name, value)
}

func (r *request) setHeader(name, value string) {
	if r.header == nil {
		r.header = http.Header{}
	}
	r.header.Set(name, value)
}

// idempotent says whether sending the request twice cannot do its work twice: GET, HEAD, PUT
// and DELETE, or any request carrying an Idempotency-Key.
func (r *request) idempotent() bool {
	switch r.method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete:
		return true
	}
	return r.header.Get("Idempotency-Key") != ""
}

// retriedStatus says whether an answer's status is one the policy retries.
func retriedStatus(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable,
		http.StatusGatewayTimeout:
		return true
	}
	return false
}

// connectionFailed says whether err is a connection that failed or dropped before an answer
// (not a timeout, nor the context's end).
func connectionFailed(err error) bool {
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}

// do sends req and decodes a 2xx JSON answer into out (nil: discard it).
func (c *Client) do(ctx context.Context, req *request, out any) error {
	resp, err := c.send(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("codex32: %s %s: decoding the answer: %w", req.method, req.path, err)
	}
	return nil
}

// send makes the request, with the retries and the one token refresh, and returns a 2xx
// response (its body for the caller to close) or an error (*Error for an HTTP error).
func (c *Client) send(ctx context.Context, req *request) (*http.Response, error) {
	var payload []byte
	if req.body != nil {
		var err error
		if payload, err = json.Marshal(req.body); err != nil {
			return nil, fmt.Errorf("codex32: encoding the request: %w", err)
		}
	}
	refreshed := false
	started := time.Now()
	maxRetries := c.maxRetries
	if !req.idempotent() {
		maxRetries = 0
	}
	for attempt := 0; ; attempt++ {
		credential, err := c.credential(ctx, req)
		if err != nil {
			return nil, err
		}
		var failure error
		wait := jittered(c.backoff, attempt)
		resp, err := c.attempt(ctx, req, payload, credential)
		switch {
		case err != nil:
			if !connectionFailed(err) {
				return nil, err
			}
			failure = err
		case resp.StatusCode < 300:
			return resp, nil
		default:
			failed := errorFrom(resp, req)
			if resp.StatusCode == http.StatusUnauthorized && !refreshed && c.canRefresh(credential) {
				refreshed = true
				if err := c.refreshTokens(ctx, credential); err != nil {
					return nil, err
				}
				attempt--
				continue
			}
			if !retriedStatus(resp.StatusCode) {
				return nil, failed
			}
			if asked, named := namedWait(resp.Header.Get("Retry-After"), time.Now()); named {
				wait = asked
			}
			failure = failed
		}
		if attempt >= maxRetries || wait > c.deadline-time.Since(started) {
			return nil, failure
		}
		if deadline, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(deadline) {
			return nil, failure
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, failure
		case <-timer.C:
		}
	}
}

func (c *Client) attempt(ctx context.Context, req *request, payload []byte,
	credential string) (*http.Response, error) {
	target := c.baseURL + req.path
	if len(req.query) > 0 {
		target += "?" + req.query.Encode()
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, target, body)
	if err != nil {
		return nil, fmt.Errorf("codex32: %w", err)
	}
	for name, values := range req.header {
		hr.Header[name] = values
	}
	if payload != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	hr.Header.Set("Accept", "application/json, application/problem+json")
	if req.stream {
		hr.Header.Set("Accept", "text/event-stream, application/json, application/problem+json")
	}
	hr.Header.Set("User-Agent", c.userAgent)
	if credential != "" {
		if c.apiKey != "" && credential == c.apiKey {
			hr.Header.Set("X-API-Key", credential)
		} else {
			hr.Header.Set("Authorization", "Bearer "+credential)
		}
	}
	client := c.http
	if req.stream {
		client = c.stream
	}
	resp, err := client.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("codex32: %s %s: %w", req.method, req.path, err)
	}
	return resp, nil
}

// credential is what authenticates req: the API key, or the access token (signing in with
// the password first when that is the client's credential).
func (c *Client) credential(ctx context.Context, req *request) (string, error) {
	if !req.auth {
		return "", nil
	}
	c.mu.Lock()
	key, access, login := c.apiKey, c.access, c.login
	c.mu.Unlock()
	if key != "" {
		return key, nil
	}
	if access == "" && login != nil {
		c.refreshing.Lock()
		defer c.refreshing.Unlock()
		if access, _ = c.Tokens(); access != "" {
			return access, nil // signed in by a concurrent request
		}
		pair, err := c.Auth.Token(ctx, login)
		if err != nil {
			return "", err
		}
		c.store(pair)
		return pair.AccessToken, nil
	}
	return access, nil
}

func (c *Client) canRefresh(credential string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.apiKey == "" && credential != "" && (c.refresh != "" || c.login != nil)
}

// refreshTokens replaces a rejected access token, once however many requests were rejected
// together: a refresh token is single-use, and a reused one revokes the whole sign-in.
func (c *Client) refreshTokens(ctx context.Context, rejected string) error {
	c.refreshing.Lock()
	defer c.refreshing.Unlock()
	if access, _ := c.Tokens(); access != rejected {
		return nil // another request refreshed it meanwhile
	}
	_, err := c.exchange(ctx)
	return err
}

// exchange gets a new pair by the refresh token (it rotates), or by signing in again with the
// password when there is none or it is refused, and keeps it.
func (c *Client) exchange(ctx context.Context) (*TokenPair, error) {
	c.mu.Lock()
	refresh, login := c.refresh, c.login
	c.mu.Unlock()
	var pair *TokenPair
	err := errors.New("codex32: no refresh token and no password to get a new access token")
	if refresh != "" {
		req := request{method: http.MethodPost, path: "/api/v1/auth/refresh"}
		req.setHeader("Authorization", "Bearer "+refresh)
		pair = &TokenPair{}
		if err = c.do(ctx, &req, pair); err != nil {
			pair = nil
		}
	}
	if pair == nil && login != nil {
		pair, err = c.Auth.Token(ctx, login)
	}
	if err != nil {
		return nil, err
	}
	c.store(pair)
	return pair, nil
}

func (c *Client) store(pair *TokenPair) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.access, c.refresh = pair.AccessToken, pair.RefreshToken
}

// Refresh exchanges the refresh token for a new pair now and returns it; the client also
// does this by itself when an access token is refused.
func (s *AuthService) Refresh(ctx context.Context) (*TokenPair, error) {
	s.c.refreshing.Lock()
	defer s.c.refreshing.Unlock()
	return s.c.exchange(ctx)
}

// jittered is full-jitter exponential backoff: a random wait up to base × 2^n, at most 8 s
// (≤ 0.5 s, 1 s, 2 s, 4 s, 8 s, … with the default base).
func jittered(base time.Duration, n int) time.Duration {
	bound := maxBackoff
	if n < 16 && base<<n < maxBackoff {
		bound = base << n
	}
	if bound <= 0 {
		return 0
	}
	return time.Duration(mathrand.Int63n(int64(bound) + 1))
}

// newIdempotencyKey is a random key for a call that was given none.
func newIdempotencyKey() string {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		panic(errors.New("codex32: no randomness for an idempotency key: " + err.Error()))
	}
	return "codex32-go-" + hex.EncodeToString(raw[:])
}
