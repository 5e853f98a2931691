package server

import (
	"context"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"github.com/csvapi/csvapi/assistant"
	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/query"
)

// mountMCP sets up the MCP tools on s's cache, under the same limits as
// the HTTP API: a query slot and the query timeout for each call.
func (s *Server) mountMCP() {
	if s.cache == nil {
		return
	}
	a := assistant.New(s.cache, assistant.Config{
		BaseURL:      s.cfg.BaseURL,
		QueryTimeout: s.cfg.QueryTimeout,
		MaxPageSize:  min(s.cfg.MaxPageSize, assistant.DefaultMaxPageSize),
		MaxGroups:    s.cfg.MaxGroups,
		ConvertWait:  min(s.cfg.ApifyWait, assistant.DefaultConvertWait),
		Version:      s.cfg.Version,
	})
	a.Logger = s.log
	a.Limit = s.limitTool
	a.Searchable = func(e *cache.Entry, t query.Table) query.Table {
		return s.searchable(e, t, query.Request{Search: "q"})
	}
	s.mcp, s.mcpHandler = a, adaptor.HTTPHandler(a.Handler())
}

// limitTool is withQuery for a tool call: the busy answer becomes a tool
// error with the API's code.
func (s *Server) limitTool(ctx context.Context, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	done, err := s.querySlot(ctx)
	if err != nil {
		ae := classify(err)
		return &assistant.Error{Code: ae.Code, Message: ae.Message, Hint: "Retry in a moment."}
	}
	defer done()
	return f(ctx)
}

// Assistant returns the MCP tools, for the stdio transport of csvapi mcp.
func (s *Server) Assistant() *assistant.Service { return s.mcp }

// handleMCP serves MCP's Streamable HTTP transport (stateless, JSON
// answers) at /mcp. The tools learn the public base URL of the request
// (for export links) and the client's address (for the per-client load
// limit) from headers set here over whatever the client sent.
func (s *Server) handleMCP(c *fiber.Ctx) error {
	if s.mcpHandler == nil {
		return fiber.ErrNotFound
	}
	c.Request().Header.Set(assistant.BaseURLHeader, s.baseURL(c))
	c.Request().Header.Set(assistant.ClientHeader, c.IP())
	return s.mcpHandler(c)
}
