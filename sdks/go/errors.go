package codex32

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors, one per kind of answer: errors.Is(err, codex32.ErrNotFound).
var (
	ErrBadRequest      = &kind{"bad request", http.StatusBadRequest}
	ErrUnauthenticated = &kind{"unauthenticated", http.StatusUnauthorized}
	ErrForbidden       = &kind{"forbidden", http.StatusForbidden}
	ErrNotFound        = &kind{"not found", http.StatusNotFound}
	ErrConflict        = &kind{"conflict", http.StatusConflict}
	ErrInvalidInput    = &kind{"invalid input", http.StatusUnprocessableEntity}
	ErrRateLimited     = &kind{"rate limited", http.StatusTooManyRequests}
	ErrUnavailable     = &kind{"unavailable", http.StatusServiceUnavailable}
	ErrServer          = &kind{"server error", 500} // any 5xx
)

type kind struct {
	name   string
	status int
}

func (k *kind) Error() string { return "codex32: " + k.name }

// Error is an HTTP error answer. v2 answers are RFC 9457 problem details (Type, Title,
// Detail, Instance, Errors); v1 answers {code, status, message, errors} fill Title, Detail and
// FieldErrors.
type Error struct {
	StatusCode int
	Method     string
	Path       string
	// Type is the problem's stable URN (urn:codex32:problem:not-found); switch on it.
	Type      string
	Title     string
	Detail    string
	Instance  string
	RequestID string
	// Errors lists each invalid input of a v2 answer (location and JSON pointer).
	Errors []FieldError
	// FieldErrors is a v1 answer's errors object, by location and field.
	FieldErrors map[string]any
	// RetryAfter is the wait the server asked for (429, 503, ...), 0 when it named none.
	RetryAfter time.Duration
	// Body is the answer as received.
	Body []byte
}

func (e *Error) Error() string {
	detail := e.Detail
	if detail == "" {
		detail = e.Title
	}
	return fmt.Sprintf("codex32: %s %s: %d %s", e.Method, e.Path, e.StatusCode, detail)
}

// Is matches the sentinel of the answer's status (ErrServer for any 5xx).
func (e *Error) Is(target error) bool {
	k, ok := target.(*kind)
	if !ok {
		return false
	}
	if k == ErrServer {
		return e.StatusCode >= 500
	}
	return e.StatusCode == k.status
}

// errorFrom reads an error answer (and closes its body).
func errorFrom(resp *http.Response, req *request) *Error {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	e := &Error{StatusCode: resp.StatusCode, Method: req.method, Path: req.path, Body: body,
		Title: http.StatusText(resp.StatusCode), RequestID: resp.Header.Get("X-Request-ID"),
		RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		var p Problem
		if json.Unmarshal(body, &p) == nil {
			e.Type, e.Title, e.Detail, e.Instance, e.Errors = p.Type, p.Title, p.Detail,
				p.Instance, p.Errors
			if p.RequestID != nil {
				e.RequestID = *p.RequestID
			}
		}
		return e
	}
	var v1 V1Error
	if json.Unmarshal(body, &v1) == nil {
		if v1.Message != nil {
			e.Detail = *v1.Message
		}
		if v1.Status != nil {
			e.Title = *v1.Status
		}
		e.FieldErrors = v1.Errors
	}
	return e
}

// retryAfter parses Retry-After: delay-seconds or an HTTP date (0 when absent or invalid).
func retryAfter(value string, now time.Time) time.Duration {
	wait, _ := namedWait(value, now)
	return wait
}

// namedWait is Retry-After's wait and whether the header named one (a number, or a date: a
// past one is a wait of 0); false when it is absent or unreadable.
func namedWait(value string, now time.Time) (time.Duration, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if seconds, err := strconv.ParseFloat(value, 64); err == nil {
		switch {
		case math.IsNaN(seconds):
			return 0, false
		case seconds < 0:
			return 0, true
		case seconds >= float64(math.MaxInt64)/float64(time.Second):
			// Longer than a Duration holds: the converted value would wrap around (negative).
			return time.Duration(math.MaxInt64), true
		}
		return time.Duration(seconds * float64(time.Second)), true
	}
	if at, err := http.ParseTime(value); err == nil {
		if at.After(now) {
			return at.Sub(now), true
		}
		return 0, true
	}
	return 0, false
}
