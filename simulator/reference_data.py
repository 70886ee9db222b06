"""Real-world anchors for the generated world: cities, streets, hardware, plans.

Coordinates and postal codes are those of each city centre, so that maps, distance filters
and zip-code reports built on the simulator's data look like the real thing.
"""

from __future__ import annotations

from typing import NamedTuple


class City(NamedTuple):
    name: str
    zip_code: str
    latitude: float
    longitude: float
    country: str
    timezone: str


GERMAN_CITIES: tuple[City, ...] = (
    City("Berlin", "10115", 52.5200, 13.4050, "DE", "Europe/Berlin"),
    City("Hamburg", "20095", 53.5511, 9.9937, "DE", "Europe/Berlin"),
    City("München", "80331", 48.1372, 11.5756, "DE", "Europe/Berlin"),
    City("Köln", "50667", 50.9375, 6.9603, "DE", "Europe/Berlin"),
    City("Frankfurt am Main", "60311", 50.1109, 8.6821, "DE", "Europe/Berlin"),
    City("Stuttgart", "70173", 48.7758, 9.1829, "DE", "Europe/Berlin"),
    City("Düsseldorf", "40213", 51.2277, 6.7735, "DE", "Europe/Berlin"),
    City("Leipzig", "04109", 51.3397, 12.3731, "DE", "Europe/Berlin"),
    City("Dortmund", "44135", 51.5136, 7.4653, "DE", "Europe/Berlin"),
    City("Essen", "45127", 51.4556, 7.0116, "DE", "Europe/Berlin"),
    City("Bremen", "28195", 53.0793, 8.8017, "DE", "Europe/Berlin"),
    City("Dresden", "01067", 51.0504, 13.7373, "DE", "Europe/Berlin"),
    City("Hannover", "30159", 52.3759, 9.7320, "DE", "Europe/Berlin"),
    City("Nürnberg", "90402", 49.4521, 11.0767, "DE", "Europe/Berlin"),
    City("Duisburg", "47051", 51.4344, 6.7623, "DE", "Europe/Berlin"),
    City("Bochum", "44787", 51.4818, 7.2162, "DE", "Europe/Berlin"),
    City("Wuppertal", "42103", 51.2562, 7.1508, "DE", "Europe/Berlin"),
    City("Bielefeld", "33602", 52.0302, 8.5325, "DE", "Europe/Berlin"),
    City("Bonn", "53111", 50.7374, 7.0982, "DE", "Europe/Berlin"),
    City("Münster", "48143", 51.9607, 7.6261, "DE", "Europe/Berlin"),
    City("Karlsruhe", "76133", 49.0069, 8.4037, "DE", "Europe/Berlin"),
    City("Mannheim", "68159", 49.4875, 8.4660, "DE", "Europe/Berlin"),
    City("Augsburg", "86150", 48.3705, 10.8978, "DE", "Europe/Berlin"),
    City("Wiesbaden", "65183", 50.0782, 8.2398, "DE", "Europe/Berlin"),
    City("Freiburg im Breisgau", "79098", 47.9990, 7.8421, "DE", "Europe/Berlin"),
    City("Mainz", "55116", 49.9929, 8.2473, "DE", "Europe/Berlin"),
    City("Kiel", "24103", 54.3233, 10.1228, "DE", "Europe/Berlin"),
    City("Rostock", "18055", 54.0924, 12.0991, "DE", "Europe/Berlin"),
    City("Heidelberg", "69117", 49.3988, 8.6724, "DE", "Europe/Berlin"),
    City("Regensburg", "93047", 49.0134, 12.1016, "DE", "Europe/Berlin"),
    City("Potsdam", "14467", 52.3906, 13.0645, "DE", "Europe/Berlin"),
    City("Erfurt", "99084", 50.9848, 11.0299, "DE", "Europe/Berlin"),
)

FRENCH_CITIES: tuple[City, ...] = (
    City("Paris", "75001", 48.8566, 2.3522, "FR", "Europe/Paris"),
    City("Marseille", "13001", 43.2965, 5.3698, "FR", "Europe/Paris"),
    City("Lyon", "69001", 45.7640, 4.8357, "FR", "Europe/Paris"),
    City("Toulouse", "31000", 43.6047, 1.4442, "FR", "Europe/Paris"),
    City("Nice", "06000", 43.7102, 7.2620, "FR", "Europe/Paris"),
    City("Nantes", "44000", 47.2184, -1.5536, "FR", "Europe/Paris"),
    City("Strasbourg", "67000", 48.5734, 7.7521, "FR", "Europe/Paris"),
    City("Montpellier", "34000", 43.6108, 3.8767, "FR", "Europe/Paris"),
    City("Bordeaux", "33000", 44.8378, -0.5792, "FR", "Europe/Paris"),
    City("Lille", "59000", 50.6292, 3.0573, "FR", "Europe/Paris"),
    City("Rennes", "35000", 48.1173, -1.6778, "FR", "Europe/Paris"),
    City("Reims", "51100", 49.2583, 4.0317, "FR", "Europe/Paris"),
    City("Le Havre", "76600", 49.4944, 0.1079, "FR", "Europe/Paris"),
    City("Saint-Étienne", "42000", 45.4397, 4.3872, "FR", "Europe/Paris"),
    City("Toulon", "83000", 43.1242, 5.9280, "FR", "Europe/Paris"),
    City("Grenoble", "38000", 45.1885, 5.7245, "FR", "Europe/Paris"),
    City("Dijon", "21000", 47.3220, 5.0415, "FR", "Europe/Paris"),
    City("Angers", "49000", 47.4784, -0.5632, "FR", "Europe/Paris"),
    City("Nîmes", "30000", 43.8367, 4.3601, "FR", "Europe/Paris"),
    City("Clermont-Ferrand", "63000", 45.7772, 3.0870, "FR", "Europe/Paris"),
    City("Tours", "37000", 47.3941, 0.6848, "FR", "Europe/Paris"),
    City("Limoges", "87000", 45.8336, 1.2611, "FR", "Europe/Paris"),
    City("Amiens", "80000", 49.8941, 2.2958, "FR", "Europe/Paris"),
    City("Metz", "57000", 49.1193, 6.1757, "FR", "Europe/Paris"),
    City("Besançon", "25000", 47.2378, 6.0241, "FR", "Europe/Paris"),
    City("Orléans", "45000", 47.9030, 1.9093, "FR", "Europe/Paris"),
    City("Rouen", "76000", 49.4432, 1.0999, "FR", "Europe/Paris"),
    City("Caen", "14000", 49.1829, -0.3707, "FR", "Europe/Paris"),
    City("Saint-Cyr-l'École", "78210", 48.8000, 2.0667, "FR", "Europe/Paris"),
)

GERMAN_STREETS: tuple[str, ...] = (
    "Hauptstraße",
    "Bahnhofstraße",
    "Schulstraße",
    "Gartenstraße",
    "Bergstraße",
    "Lindenstraße",
    "Kirchstraße",
    "Goethestraße",
    "Schillerstraße",
    "Parkstraße",
    "Marktplatz",
    "Industriestraße",
    "Am Sportplatz",
    "Ringstraße",
    "Friedhofstraße",
    "Waldstraße",
    "Mühlenweg",
    "Rathausplatz",
    "Poststraße",
    "Bismarckstraße",
)

FRENCH_STREETS: tuple[str, ...] = (
    "Rue de la République",
    "Avenue Jean Jaurès",
    "Rue Victor Hugo",
    "Boulevard Gambetta",
    "Rue Pasteur",
    "Place de la Gare",
    "Rue du Général de Gaulle",
    "Avenue de la Libération",
    "Rue Nationale",
    "Rue des Écoles",
    "Rue de l'Église",
    "Avenue Foch",
    "Quai Voltaire",
    "Rue Jean Moulin",
    "Boulevard de Strasbourg",
)


class Hardware(NamedTuple):
    vendor: str
    model: str
    charging_type: str  # AC or DC
    power_kw: float
    current_a: int
    voltage_v: int
    plug_types: tuple[str, ...]


HARDWARE: tuple[Hardware, ...] = (
    Hardware("Wirelane", "Light&Charge", "AC", 11.0, 16, 400, ("TYPE_2",)),
    Hardware("Wirelane", "Light&Charge", "AC", 22.0, 32, 400, ("TYPE_2",)),
    Hardware("Wirelane", "Wallbox W1", "AC", 11.0, 16, 400, ("TYPE_2", "SCHUKO")),
    Hardware("ABL", "eMH3", "AC", 22.0, 32, 400, ("TYPE_2",)),
    Hardware("Mennekes", "AMTRON Charge Control", "AC", 22.0, 32, 400, ("TYPE_2",)),
    Hardware("Alpitronic", "Hypercharger HYC50", "DC", 50.0, 125, 400, ("CCS", "CHADEMO")),
    Hardware("Alpitronic", "Hypercharger HYC150", "DC", 150.0, 375, 400, ("CCS",)),
    Hardware("ABB", "Terra 184", "DC", 180.0, 200, 920, ("CCS",)),
    Hardware("Kempower", "Satellite", "DC", 300.0, 500, 920, ("CCS",)),
)

TARIFF_NAMES: dict[str, tuple[str, str]] = {
    # tariff_type -> (English name, local name)
    "customer": ("Public charging", "Öffentliches Laden"),
    "member": ("Employees", "Mitarbeiter"),
    "marketplace": ("Marketplace partners", "Marktplatz-Partner"),
    "contactless_payment": ("Ad-hoc card payment", "Ad-hoc Kartenzahlung"),
    "direct_payment": ("Direct payment (web)", "Direktzahlung (Web)"),
    "cpo_roaming": ("Roaming", "Roaming"),
    "direct_charging_cpo": ("Fleet charging", "Flottenladen"),
}

SUBSCRIPTION_PLANS: tuple[tuple[str, str, int, str, int], ...] = (
    # key suffix, name, amount in cents, interval, interval count
    ("BASIC", "Basic (no monthly fee)", 0, "MONTHS", 1),
    ("PLUS", "Plus", 499, "MONTHS", 1),
    ("PREMIUM", "Premium", 999, "MONTHS", 1),
    ("ANNUAL", "Annual flat", 9900, "MONTHS", 12),
)

CASE_TITLES: tuple[str, ...] = (
    "Charging interrupted after a few minutes",
    "Connector locked, cable cannot be removed",
    "Display shows error E-42",
    "RFID card not recognised",
    "Station offline since last night",
    "Payment terminal declines cards",
    "Damaged charging cable",
    "Wrong price shown in app",
    "Parking bay blocked by combustion car",
    "Meter values implausible",
)

CASE_STATUSES: tuple[str, ...] = (
    "New",
    "In progress - Electrician",
    "In progress - Timeframe",
    "In progress - Wirelane",
    "In progress - Wirelane IT",
    "Waiting for customer",
    "Closed",
)

ERROR_MESSAGES = {
    "authorization_timeout": "Authorization request timed out",
    "charge_point_offline": "Charge point is offline",
    "remote_start_failed": "Remote start failed",
    "remote_start_rejected": "Remote start rejected by roaming partner",
    "start_timeout": "Station did not start the transaction in time",
    "charge_point_not_operative": "Charge point is not operative",
    "customer_not_found": "Customer not found",
    "invalid_meter_values": "Received implausible meter values",
    "consumption_too_high": "Consumption exceeds the connector's capability",
    "invalid_timestamps": "Received implausible timestamps",
    "stop_timeout": "Manually closed because of time out",
    "remote_stop_failed": "Remote stop failed at provider",
    "remote_stop_rejected": "Remote stop rejected by station",
    "internal_error": "An internal error occurred",
    "consecutive_start": "New transaction started before the previous one was stopped",
}
