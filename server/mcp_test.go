package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/csvapi/csvapi/assistant"
	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/convert"
	"github.com/csvapi/csvapi/problem"
	"github.com/csvapi/csvapi/query"
)

// TestMCPErrorCodes: the MCP tools report the same stable code as the
// HTTP API for every domain error, and say nothing of internals.
func TestMCPErrorCodes(t *testing.T) {
	for _, err := range []error{
		cache.ErrNotFound,
		&query.InvalidError{Param: "x__less", Message: "expects a number"},
		fmt.Errorf("run: %w", query.ErrInvalid),
		&convert.OptionError{Option: "delimiter", Message: "one character"},
		&convert.ChoiceError{Param: "sheet", Choices: []string{"a", "b"}},
		&convert.ChoiceError{Param: "sheet", Value: "c", Choices: []string{"a", "b"}},
		convert.ErrInvalidURL,
		fmt.Errorf("dial: %w", convert.ErrForbiddenAddress),
		&convert.FetchError{Status: 404},
		&convert.FetchError{Err: context.DeadlineExceeded},
		&convert.FetchError{Err: errors.New("connection refused")},
		convert.ErrTooLarge,
		convert.ErrNotTabular,
		convert.ErrConversionFailed,
		convert.ErrUnreadable,
		cache.ErrTooManyColumns,
		convert.ErrUnsupportedEncoding,
		fmt.Errorf("query: %w", context.DeadlineExceeded),
		context.Canceled,
		errors.New("duckdb: internal error at /src/secret.cpp"),
		&cache.PendingError{ID: "0123"},
		&convert.FetchError{Err: fmt.Errorf("rate: %w", convert.ErrTooSlow)},
		cache.ErrBusy,
		cache.ErrClientBusy,
		cache.ErrInsufficientStorage,
		cache.ErrConflict,
		fmt.Errorf("%w: Invalid Input Error: bad quote in /var/cache/csvapi/tmp/x.csv\nLINE 1: SELECT * FROM read_csv('/var/x')", convert.ErrUnreadable),
		fmt.Errorf("%w: worker killed", convert.ErrConversionFailed),
	} {
		http, tool := classify(err), assistant.ErrorOf(err)
		if http.Code != tool.Code {
			t.Errorf("%v: HTTP code %s, MCP code %s", err, http.Code, tool.Code)
		}
		switch http.Code {
		case problem.CodeUnreadable, problem.CodeNotTabular, problem.CodeConversionFailed:
			// Both keep the human part of a conversion error, nothing of
			// the SQL or the server's paths.
			if http.Message != tool.Message || strings.Contains(tool.Message, "/var") || strings.Contains(tool.Message, "LINE") {
				t.Errorf("%v: HTTP message %q, MCP message %q", err, http.Message, tool.Message)
			}
		}
		if tool.Code == "internal_error" && tool.Message != "Internal error." {
			t.Errorf("%v: internal error message %q leaks details", err, tool.Message)
		}
	}
}
