"""Speed and memory of tap-exports, measured side by side with the limit and a stock SDK tap."""
