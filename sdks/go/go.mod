module github.com/codex32/codex32-go/v2

go 1.19
