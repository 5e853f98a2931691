package convert

import (
	"regexp"
	"strings"
)

// absPath matches an absolute file path inside a message, with the
// character before it (start, space, quote, parenthesis, = or [).
var absPath = regexp.MustCompile(`(^|[\s'"(=\[])/[^\s'"()\[\],;]*[^\s'"()\[\],;.:]`)

// PublicMessage returns the human part of a conversion error's message,
// fit for clients: DuckDB's and the spreadsheet readers' text is kept, but
// cut at a line starting with "LINE " (the SQL DuckDB quotes) or naming a
// "Stack Trace", and absolute paths are replaced by <file>. Answers must
// not tell how the server builds its SQL nor where its files are. The HTTP
// server and the MCP tools both use it.
func PublicMessage(msg string) string {
	lines := strings.Split(msg, "\n")
	for i, line := range lines {
		if strings.HasPrefix(strings.TrimSpace(line), "LINE ") || strings.Contains(line, "Stack Trace") {
			lines = lines[:i]
			break
		}
	}
	return strings.TrimSpace(absPath.ReplaceAllString(strings.Join(lines, "\n"), "${1}<file>"))
}
