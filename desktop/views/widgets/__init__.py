"""Small widgets shared by the pages (banners, filter bars, tables)."""
