package codex32_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	codex32 "github.com/codex32/codex32-go/v2"
)

// The README's example, compiled with the package so that it stays true.
func Example() {
	ctx, code := context.Background(), "def main(event, context):\n    return event\n"
	c := codex32.NewClient("https://codex32.example.com", codex32.WithAPIKey(os.Getenv("CODEX32_API_KEY")))
	bot, err := c.Bots.Create(ctx, &codex32.BotCreate{Name: "hello", Code: &code})
	if errors.Is(err, codex32.ErrForbidden) {
		log.Fatal("this key's role may not create bots")
	} else if err != nil {
		log.Fatal(err)
	}
	run, err := c.Executions.Create(ctx, bot.ID, &codex32.ExecutionCreate{Input: map[string]any{"n": 1}}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(run.Status)
	it := c.Bots.List(ctx, &codex32.ListBotsOptions{Limit: 50})
	for it.Next() {
		fmt.Println(it.Bot().Name)
	}
	if err := it.Err(); err != nil {
		log.Fatal(err)
	}
}
