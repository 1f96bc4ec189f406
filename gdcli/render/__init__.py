"""Renderers: terminal tables and progress, pictures, the README reference."""
