"""The value-principle catalog (value_principles/*.yaml): validated principles and category descriptors."""

from pipeline.catalog.principles import DEFAULT_CATALOG_DIR, Catalog, CatalogError, Principle, load_catalog

__all__ = ["DEFAULT_CATALOG_DIR", "Catalog", "CatalogError", "Principle", "load_catalog"]
