package codex32

// Tests against a running server, run by tests/sdks/test_go_sdk.py (pytest starts the server
// and a workspace and passes them in CODEX32_TEST_* variables); skipped when they are unset.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

type live struct {
	baseURL, apiKey, adminKey, email, password, workspace string
	expiredAccess, refresh, otherBotID                    string
}

func liveServer(t *testing.T) live {
	t.Helper()
	env := func(name string) string { return os.Getenv("CODEX32_TEST_" + name) }
	l := live{env("BASE_URL"), env("API_KEY"), env("ADMIN_API_KEY"), env("EMAIL"),
		env("PASSWORD"), env("WORKSPACE"), env("EXPIRED_ACCESS_TOKEN"), env("REFRESH_TOKEN"),
		env("OTHER_BOT_ID")}
	if l.baseURL == "" {
		t.Skip("CODEX32_TEST_BASE_URL is not set (tests/sdks/test_go_sdk.py sets it)")
	}
	return l
}

func liveContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func createBot(t *testing.T, ctx context.Context, c *Client, name string) *BotDetail {
	t.Helper()
	code := "def main(event, context):\n    return event\n"
	bot, err := c.Bots.Create(ctx, &BotCreate{Name: name, Code: &code})
	if err != nil {
		t.Fatal(err)
	}
	return bot
}

func TestLiveBotsVersionsAndTypedErrors(t *testing.T) {
	l := liveServer(t)
	ctx := liveContext(t)
	c := NewClient(l.baseURL, WithAPIKey(l.adminKey))
	bot := createBot(t, ctx, c, "go sdk bot")
	description := "changed by the Go SDK"
	updated, err := c.Bots.Update(ctx, bot.ID, &BotUpdate{Description: &description})
	if err != nil || updated.Description != description {
		t.Fatalf("update: %v %+v", err, updated)
	}
	got, err := c.Bots.Get(ctx, bot.ID, &GetBotOptions{Expand: []string{"latest_version"}})
	if err != nil || got.LatestVersion == nil || got.LatestVersion.Number != 1 {
		t.Fatalf("get: %v %+v", err, got)
	}
	version, err := c.Versions.Create(ctx, bot.ID, &VersionCreate{
		Code: "def main(event, context):\n    return 2\n"})
	if err != nil || version.Number != 2 {
		t.Fatalf("version: %v %+v", err, version)
	}
	if v, err := c.Versions.Get(ctx, bot.ID, 1); err != nil || v.Code == "" {
		t.Fatalf("get version: %v", err)
	}
	numbers := []int64{}
	versions := c.Versions.List(ctx, bot.ID, &ListVersionsOptions{Limit: 1})
	for versions.Next() {
		numbers = append(numbers, versions.VersionSummary().Number)
	}
	if versions.Err() != nil || len(numbers) != 2 {
		t.Fatalf("versions %v: %v", numbers, versions.Err())
	}
	if back, err := c.Versions.Rollback(ctx, bot.ID, &Rollback{Version: 1}); err != nil ||
		back.Number != 3 {
		t.Fatalf("rollback: %v %+v", err, back)
	}
	schedule, err := c.Schedules.Put(ctx, bot.ID, &ScheduleInput{Cron: "*/15 * * * *"})
	if err != nil || !schedule.Enabled || len(schedule.NextRuns) == 0 {
		t.Fatalf("schedule: %v %+v", err, schedule)
	}
	if err := c.Schedules.Delete(ctx, bot.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Schedules.Get(ctx, bot.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted schedule: %v", err)
	}

	_, err = c.Bots.Create(ctx, &BotCreate{Name: ""})
	var e *Error
	if !errors.Is(err, ErrInvalidInput) || !errors.As(err, &e) || len(e.Errors) == 0 ||
		e.Errors[0].Pointer != "/name" || e.Type != "urn:codex32:problem:invalid-input" {
		t.Fatalf("blank name: %v (%+v)", err, e)
	}
	if err := c.Bots.Delete(ctx, bot.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Bots.Get(ctx, bot.ID, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted bot: %v", err)
	}
}

func TestLiveAnotherWorkspacesBotIsNotFound(t *testing.T) {
	l := liveServer(t)
	ctx := liveContext(t)
	c := NewClient(l.baseURL, WithAPIKey(l.adminKey))
	_, err := c.Bots.Get(ctx, l.otherBotID, nil)
	var e *Error
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &e) ||
		e.Type != "urn:codex32:problem:not-found" {
		t.Fatalf("other workspace's bot: %v", err)
	}
	desc := "hijacked"
	if _, err := c.Bots.Update(ctx, l.otherBotID, &BotUpdate{Description: &desc}); !errors.Is(
		err, ErrNotFound) {
		t.Fatalf("update of the other workspace's bot: %v", err)
	}
	_, err = c.Executions.Create(ctx, l.otherBotID, &ExecutionCreate{}, nil)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("run of the other workspace's bot: %v", err)
	}
}

func TestLiveListingWalksEveryPage(t *testing.T) {
	l := liveServer(t)
	ctx := liveContext(t)
	c := NewClient(l.baseURL, WithAPIKey(l.adminKey))
	tag := fmt.Sprintf("paged-%d", time.Now().UnixNano())
	made := map[string]bool{}
	for i := 0; i < 5; i++ {
		made[createBot(t, ctx, c, fmt.Sprintf("%s %d", tag, i)).ID] = true
	}
	seen := map[string]bool{}
	it := c.Bots.List(ctx, &ListBotsOptions{Q: tag, Limit: 2})
	pages := 0
	for it.Next() {
		if seen[it.Bot().ID] {
			t.Fatalf("bot %s seen twice", it.Bot().ID)
		}
		seen[it.Bot().ID] = true
		if len(seen)%2 == 1 {
			pages++
		}
	}
	if it.Err() != nil || len(seen) != len(made) || pages != 3 {
		t.Fatalf("saw %d of %d bots over %d pages: %v", len(seen), len(made), pages, it.Err())
	}
}

func TestLiveExecutionsAreIdempotent(t *testing.T) {
	l := liveServer(t)
	ctx := liveContext(t)
	bot := createBot(t, ctx, NewClient(l.baseURL, WithAPIKey(l.adminKey)), "go sdk runs")
	c := NewClient(l.baseURL, WithAPIKey(l.apiKey)) // api_user: runs and reads
	key := fmt.Sprintf("go-%d", time.Now().UnixNano())
	body := &ExecutionCreate{Input: map[string]any{"n": 1}}
	first, err := c.Executions.Create(ctx, bot.ID, body, &CreateExecutionOptions{IdempotencyKey: key})
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Executions.Create(ctx, bot.ID, body, &CreateExecutionOptions{IdempotencyKey: key})
	if err != nil || again.ID != first.ID {
		t.Fatalf("same key, two executions: %s %v (%v)", first.ID, again, err)
	}
	other, err := c.Executions.Create(ctx, bot.ID, body, nil) // a key of its own
	if err != nil || other.ID == first.ID {
		t.Fatalf("no key: %v %v", other, err)
	}
	count := 0
	runs := c.Executions.ListForBot(ctx, bot.ID, &ListBotExecutionsOptions{Limit: 1})
	for runs.Next() {
		count++
	}
	if runs.Err() != nil || count != 2 {
		t.Fatalf("%d executions listed: %v", count, runs.Err())
	}
	got, err := c.Executions.Get(ctx, first.ID, &GetExecutionOptions{Expand: []string{"bot"}})
	if err != nil || got.Bot == nil || got.Bot.ID != bot.ID || got.Input["n"] != float64(1) {
		t.Fatalf("get: %v %+v", err, got)
	}
	if cancelled, err := c.Executions.Cancel(ctx, other.ID); err != nil ||
		cancelled.ID != other.ID {
		t.Fatalf("cancel: %v", err)
	}
	all := c.Executions.List(ctx, &ListExecutionsOptions{BotID: bot.ID})
	for all.Next() {
		if all.ExecutionSummary().BotID != bot.ID {
			t.Fatal("the bot_id filter was lost")
		}
	}
	if all.Err() != nil {
		t.Fatal(all.Err())
	}
}

func TestLiveWorkspaceResources(t *testing.T) {
	l := liveServer(t)
	ctx := liveContext(t)
	c := NewClient(l.baseURL, WithAPIKey(l.adminKey))
	minted, err := c.APIKeys.Create(ctx, &APIKeyCreate{Name: "go sdk", Role: "viewer"})
	if err != nil || !strings.HasPrefix(minted.Key, minted.Prefix) {
		t.Fatalf("mint: %v %+v", err, minted)
	}
	if key, err := c.APIKeys.Get(ctx, minted.ID); err != nil || key.Role != "viewer" {
		t.Fatalf("get key: %v", err)
	}
	keys, err := c.APIKeys.List(ctx)
	if err != nil || len(keys.Data) < 3 {
		t.Fatalf("keys: %v %+v", err, keys)
	}
	viewer := NewClient(l.baseURL, WithAPIKey(minted.Key))
	if _, err := viewer.Bots.Create(ctx, &BotCreate{Name: "no"}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a viewer created a bot: %v", err)
	}
	if err := c.APIKeys.Delete(ctx, minted.ID); err != nil {
		t.Fatal(err)
	}
	gone := viewer.Bots.List(ctx, nil)
	if gone.Next() || !errors.Is(gone.Err(), ErrUnauthenticated) {
		t.Fatalf("a deleted key still works: %v", gone.Err())
	}
	members, err := c.Members.List(ctx)
	if err != nil || len(members.Data) != 1 || members.Data[0].Email != l.email {
		t.Fatalf("members: %v %+v", err, members)
	}
	audit := c.AuditLogs.List(ctx, &ListAuditLogsOptions{ResourceType: "api_key", Limit: 1})
	actions := map[string]bool{}
	for audit.Next() {
		actions[audit.AuditEntry().Action] = true
	}
	if audit.Err() != nil || len(actions) < 2 {
		t.Fatalf("audit: %v %v", actions, audit.Err())
	}
	if usage, err := c.Usage.Get(ctx, &GetUsageOptions{GroupBy: "model"}); err != nil ||
		usage.GroupBy[0] != "model" {
		t.Fatalf("usage: %v %+v", err, usage)
	}
}

func TestLivePasswordAndRefresh(t *testing.T) {
	l := liveServer(t)
	ctx := liveContext(t)
	signedIn := NewClient(l.baseURL, WithPassword(l.email, l.password, l.workspace))
	me, err := signedIn.Auth.Me(ctx)
	if err != nil || me.Role != "admin" {
		t.Fatalf("me: %v %+v", err, me)
	}
	if access, refresh := signedIn.Tokens(); access == "" || refresh == "" {
		t.Fatal("no tokens kept after the sign-in")
	}
	// An access token past its expiry: the client refreshes once and repeats the call.
	c := NewClient(l.baseURL, WithTokens(l.expiredAccess, l.refresh))
	if me, err := c.Auth.Me(ctx); err != nil || me.Role != "admin" {
		t.Fatalf("with an expired access token: %v", err)
	}
	access, refresh := c.Tokens()
	if access == l.expiredAccess || refresh == l.refresh || access == "" {
		t.Fatal("the tokens were not refreshed")
	}
	pair, err := c.Auth.Refresh(ctx)
	if err != nil || pair.RefreshToken == refresh {
		t.Fatalf("explicit refresh: %v", err)
	}
	// The first refresh token was used: presenting it again is refused.
	stale := NewClient(l.baseURL, WithTokens(l.expiredAccess, l.refresh))
	if _, err := stale.Auth.Me(ctx); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("a used refresh token worked: %v", err)
	}
}

func TestLiveChatStream(t *testing.T) {
	l := liveServer(t)
	ctx := liveContext(t)
	c := NewClient(l.baseURL, WithAPIKey(l.apiKey))
	stream, err := c.LLM.ChatStream(ctx, &Chat{Messages: []Message{
		{Role: "user", Content: "a bot that posts the weather to #general every morning"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	var text strings.Builder
	chunks := 0
	for stream.Next() {
		chunks++
		text.WriteString(stream.Text())
	}
	if stream.Err() != nil || chunks == 0 || text.Len() == 0 || stream.Done() == nil {
		t.Fatalf("%d chunks %q: %v", chunks, text.String(), stream.Err())
	}
}
