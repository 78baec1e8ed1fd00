"""Looking inside: explanations, the lesson's arithmetic, mistakes, reports."""
