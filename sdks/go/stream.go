package codex32

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ChatStream is a streamed chat answer (Server-Sent Events): for s.Next() { s.Text() }, then
// s.Err() and s.Done(). Close it when stopping early; the server then stops the model and
// records the tokens produced so far.
type ChatStream struct {
	body   io.ReadCloser
	reader *bufio.Reader
	text   string
	done   *ChatAnswer
	err    error
	closed bool
}

// ChatStream calls POST /api/v1/llm/chat with stream: true. The request is retried on 429
// like any other; once the stream has begun, nothing is retried.
func (s *LLMService) ChatStream(ctx context.Context, body *Chat) (*ChatStream, error) {
	streamed := *body
	yes := true
	streamed.Stream = &yes
	req := request{method: http.MethodPost, path: "/api/v1/llm/chat", auth: true, body: &streamed,
		stream: true}
	resp, err := s.c.send(ctx, &req)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		return nil, fmt.Errorf("codex32: chat stream: answer of type %q, not text/event-stream",
			resp.Header.Get("Content-Type"))
	}
	return newChatStream(resp.Body), nil
}

func newChatStream(body io.ReadCloser) *ChatStream {
	return &ChatStream{body: body, reader: bufio.NewReader(body)}
}

// Next reads up to the next text chunk; false at the end of the stream or on an error.
func (s *ChatStream) Next() bool {
	for !s.closed {
		name, data, err := s.event()
		if err != nil {
			if err == io.EOF && s.done == nil {
				err = io.ErrUnexpectedEOF // the server always ends with done or error
			}
			s.fail(err)
			return false
		}
		switch name {
		case "chunk":
			var chunk struct {
				Text string `json:"text"`
			}
			if err := json.Unmarshal([]byte(data), &chunk); err != nil {
				s.fail(fmt.Errorf("codex32: chat stream: chunk: %w", err))
				return false
			}
			s.text = chunk.Text
			return true
		case "done":
			var done ChatAnswer
			if err := json.Unmarshal([]byte(data), &done); err != nil {
				s.fail(fmt.Errorf("codex32: chat stream: done: %w", err))
				return false
			}
			s.done = &done
			s.fail(nil)
			return false
		case "error":
			e := &Error{StatusCode: http.StatusBadGateway, Method: http.MethodPost,
				Path: "/api/v1/llm/chat", Body: []byte(data)}
			var v1 V1Error
			if json.Unmarshal([]byte(data), &v1) == nil {
				if v1.Code != nil {
					e.StatusCode = int(*v1.Code)
				}
				if v1.Message != nil {
					e.Detail = *v1.Message
				}
				if v1.Status != nil {
					e.Title = *v1.Status
				}
			}
			s.fail(e)
			return false
		}
		// An event of another name: ignored, as SSE clients do.
	}
	return false
}

// event reads one event: its name ("message" when unnamed) and its data lines joined.
func (s *ChatStream) event() (name, data string, err error) {
	var lines []string
	for {
		line, err := s.reader.ReadString('\n')
		if err != nil && (err != io.EOF || line == "") {
			return "", "", err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if name == "" && lines == nil {
				continue // blank lines between events
			}
			if name == "" {
				name = "message"
			}
			return name, strings.Join(lines, "\n"), nil
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			name = value
		case "data":
			lines = append(lines, value)
		}
	}
}

func (s *ChatStream) fail(err error) {
	s.err, s.text = err, ""
	s.Close()
}

// Text is the current chunk's text.
func (s *ChatStream) Text() string { return s.text }

// Err is what ended the stream early: an error event of the server (*Error), a cut
// connection, or the context; nil after the final event.
func (s *ChatStream) Err() error { return s.err }

// Done is the final event's answer (provider, model, usage, cost; its Text is empty), nil
// until the stream ended normally.
func (s *ChatStream) Done() *ChatAnswer { return s.done }

// Close stops reading and closes the connection.
func (s *ChatStream) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	return s.body.Close()
}
