"""KIE JSON schemas (as sent to Upstage) and the Arrow table schemas derived from them."""
