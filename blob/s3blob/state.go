package s3blob

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// maxStateLen bounds a pending upload's state object.
const maxStateLen = 4096

// uploadState is the JSON object kept at u/<key>.json while an upload is
// pending.
type uploadState struct {
	Size     int64     `json:"size"`
	UploadID string    `json:"upload_id,omitempty"` // S3 multipart upload; empty for size 0
	Created  time.Time `json:"created"`
}

func encodeState(st uploadState) ([]byte, error) {
	return json.Marshal(st)
}

// decodeState parses a state object, refusing oversized or inconsistent
// ones.
func decodeState(b []byte) (uploadState, error) {
	if len(b) > maxStateLen {
		return uploadState{}, fmt.Errorf("upload state: %d bytes, max %d", len(b), maxStateLen)
	}
	var st uploadState
	if err := json.Unmarshal(b, &st); err != nil {
		return uploadState{}, fmt.Errorf("upload state: %w", err)
	}
	switch {
	case st.Size < 0:
		return uploadState{}, errors.New("upload state: negative size")
	case st.Size > 0 && st.UploadID == "":
		return uploadState{}, errors.New("upload state: no multipart upload id")
	case len(st.UploadID) > 1024:
		return uploadState{}, errors.New("upload state: upload id too long")
	}
	return st, nil
}
