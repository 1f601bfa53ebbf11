package server

// WithDefaults returns c with every zero field set to its documented
// default and checks it, exactly as New does: what `parley serve
// --print-config` shows is what the node runs with.
func (c Config) WithDefaults() (Config, error) { return c.withDefaults() }
