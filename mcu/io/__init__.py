"""mcu.io"""
