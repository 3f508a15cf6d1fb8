"""PostgreSQL persistence: tables, migrations, and what apply, reports and admin write and read."""
