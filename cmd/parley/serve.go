package main

import (
	"context"
	"errors"
)

// Placeholder: replaced by the server engineer.
func runServe(ctx context.Context, g *globalFlags, args []string) error {
	return errors.New("not yet implemented")
}
func runAdmin(ctx context.Context, g *globalFlags, args []string) error {
	return errors.New("not yet implemented")
}
