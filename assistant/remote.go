package assistant

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Remote returns an MCP server that offers the tools, prompts and resources
// of the csvapi whose base URL is endpoint, forwarding every call to its
// /mcp endpoint over HTTP: the remote service applies its own limits and
// address policy, and its answers come back unchanged. Close the returned
// session when done.
//
// It returns an error when the remote csvapi cannot be reached or does not
// speak MCP.
func Remote(ctx context.Context, endpoint string, client *http.Client, version string) (*mcp.Server, *mcp.ClientSession, error) {
	endpoint = strings.TrimRight(endpoint, "/")
	if !strings.HasSuffix(endpoint, "/mcp") {
		endpoint += "/mcp"
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "csvapi-mcp-proxy", Version: version}, nil).
		Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: client, DisableStandaloneSSE: true}, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", endpoint, err)
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "csvapi", Version: version},
		&mcp.ServerOptions{Instructions: cs.InitializeResult().Instructions})
	if err := mirror(ctx, cs, srv); err != nil {
		cs.Close()
		return nil, nil, fmt.Errorf("list the features of %s: %w", endpoint, err)
	}
	return srv, cs, nil
}

// mirror registers on srv the remote's tools, prompts and resource
// templates, each forwarding to cs, and forwards resources/list.
func mirror(ctx context.Context, cs *mcp.ClientSession, srv *mcp.Server) error {
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return err
		}
		srv.AddTool(t, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: req.Params.Name, Arguments: req.Params.Arguments})
			if err != nil {
				// The remote is down or answered garbage: the model should
				// hear it as a tool error, not lose the conversation.
				var r mcp.CallToolResult
				r.SetError(&Error{Code: "remote_unreachable", Message: "The remote csvapi did not answer: " + err.Error(), Hint: "Retry in a moment."})
				return &r, nil
			}
			return res, nil
		})
	}
	for p, err := range cs.Prompts(ctx, nil) {
		if err != nil {
			return err
		}
		srv.AddPrompt(p, func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return cs.GetPrompt(ctx, req.Params)
		})
	}
	for t, err := range cs.ResourceTemplates(ctx, nil) {
		if err != nil {
			return err
		}
		srv.AddResourceTemplate(t, func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return cs.ReadResource(ctx, req.Params)
		})
	}
	srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "resources/list" {
				params, _ := req.GetParams().(*mcp.ListResourcesParams)
				return cs.ListResources(ctx, params)
			}
			return next(ctx, method, req)
		}
	})
	return nil
}
