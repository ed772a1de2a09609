"""The value-principle catalog (value_principles/*.yaml): validated principles, category descriptors, and the
text matching they and every stage share (text)."""

from pipeline.catalog.principles import DEFAULT_CATALOG_DIR, Catalog, CatalogError, Principle, load_catalog

__all__ = ["DEFAULT_CATALOG_DIR", "Catalog", "CatalogError", "Principle", "load_catalog"]
