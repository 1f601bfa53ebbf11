package pebble

func (s *Store) closedForTest() bool {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	return s.closed
}
