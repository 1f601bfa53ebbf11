package main

import (
	"context"
	"errors"
)

// Placeholder: replaced by the SDK engineer.
func runRegister(ctx context.Context, g *globalFlags, args []string) error {
	return errors.New("not yet implemented")
}
func runSend(ctx context.Context, g *globalFlags, args []string) error {
	return errors.New("not yet implemented")
}
func runRecv(ctx context.Context, g *globalFlags, args []string) error {
	return errors.New("not yet implemented")
}
func runChat(ctx context.Context, g *globalFlags, args []string) error {
	return errors.New("not yet implemented")
}
func runHistory(ctx context.Context, g *globalFlags, args []string) error {
	return errors.New("not yet implemented")
}
func runSafety(ctx context.Context, g *globalFlags, args []string) error {
	return errors.New("not yet implemented")
}
func runWhoami(ctx context.Context, g *globalFlags, args []string) error {
	return errors.New("not yet implemented")
}
